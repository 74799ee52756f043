// A small reader for .dev.vars files (dotenv syntax): KEY=value, `export` prefixes, # comments,
// and '…', "…" (with \n escapes) or `…` values that may span lines, as PEM keys do.
export function parseDotenv(text) {
  const vars = {};
  const pattern =
    /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"((?:\\.|[^"\\])*)"|'([^']*)'|`([^`]*)`|([^\n#]*))\s*(?:#[^\n]*)?$/gm;
  for (const match of text.matchAll(pattern)) {
    const [, key, doubleQuoted, singleQuoted, backticked, bare] = match;
    if (doubleQuoted !== undefined)
      vars[key] = doubleQuoted.replace(/\\([nr"\\])/g, (_, c) => ({ n: "\n", r: "\r", '"': '"', "\\": "\\" })[c]);
    else vars[key] = singleQuoted ?? backticked ?? bare.trim();
  }
  return vars;
}
