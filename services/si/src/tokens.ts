/**
 * Token estimates without a tokenizer.
 *
 * A real o200k_base BPE table is ~1 MB gzipped per worker, so production code never
 * imports one. Instead the text is cut into pieces the way o200k_base's pre-tokenizer cuts it (words with
 * their leading space, digit groups of up to 3, punctuation runs, whitespace runs) and each piece is
 * charged by a small rule. BPE rarely merges across those boundaries, so "one token per piece, more for
 * long pieces" is already close; the constants below were fitted against gpt-tokenizer@4.0.0 o200k_base
 * (test/tokens.test.ts keeps them honest) and then rounded.
 *
 * Measured (estimate vs o200k_base, 2026-11): the generated test corpus (18 kinds of text) −7% … +6% per
 * sample apart from opaque ids, −1.1% overall; held-out real files — this repo's TypeScript, markdown and
 * JSON, translated READMEs and TypeScript's diagnostic catalogues in 13 languages, 54 files — −14% … +10%
 * per file, −0.8% over 1.56 M tokens. Node runs it at ≈20 MB/s.
 *
 * Known biases:
 * - Under-counts text that is not made of dictionary words, which BPE splits into short tokens: hex and
 *   base64 ids −15%, package-lock.json −13%, badge- and link-heavy markdown −8%; also Polish, Czech and
 *   Turkish −11%.
 * - Over-counts common long words ("internationalization": 2 tokens, estimated 5), so plain English runs
 *   about +5%; Japanese can run +10%.
 * - Long space runs (o200k has single tokens for up to ~80 spaces) are charged 1 per 24 beyond 16.
 * - Llama and other non-OpenAI tokenizers differ by an unmeasured amount; prefer provider `usage`.
 */

/** Tokens OpenAI-style chat formats add per message: `<|im_start|>`, the role, `<|im_sep|>`, `<|im_end|>`. */
export const CHAT_TOKENS_PER_MESSAGE = 4;

/** Tokens that prime the reply: `<|im_start|>assistant<|im_sep|>`. */
export const CHAT_REPLY_PRIMING_TOKENS = 3;

// Scripts with their own per-character rates; they are kept out of the word alternatives below.
const CJK = String.raw`\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}`;

// One alternative per piece kind; the capture group that matched tells the kind. Order matters: a
// non-ASCII symbol never becomes a word prefix (so a symbol followed by a letter costs at least the symbol),
// and ASCII punctuation only forms its own piece when it does not lead a word (".com", "\"key", "_id").
const PIECE = new RegExp(
  [
    // 1: Han. o200k merges frequent 2-character words, so a character costs a bit over half a token.
    String.raw`(\p{sc=Han}+)`,
    // 2: Hiragana and Katakana (with the ー long-vowel mark): frequent kana pairs are single tokens.
    String.raw`([\p{sc=Hiragana}\p{sc=Katakana}\u30fc]+)`,
    // 3: emoji and other non-ASCII symbols, with a leading space: about one token per UTF-16 unit
    //    (a flag is 4, a ZWJ family 8), while “ ” — € … cost 1.
    String.raw`( ?[^\s\p{L}\p{N}\x00-\x7f]+)`,
    // 4: an optional one-character prefix (space, tab or ASCII punctuation), then one of
    //    5: a Hangul word, 6: a Latin word split at lower→upper case changes as o200k does ("get|User|Id"),
    //    7: a word of another cased script (Cyrillic, Greek, Armenian …), 8: any other script with its marks.
    //    `[^\P{Lu}\P{sc=Latin}]` reads "Lu and Latin": an intersection without the ES2024 `v` flag.
    String.raw`([^\r\n\p{L}\p{N}]?)(?:(\p{sc=Hangul}+)|([^\P{Lu}\P{sc=Latin}]*[^\P{Ll}\P{sc=Latin}]+|[^\P{Lu}\P{sc=Latin}]+[^\P{Ll}\P{sc=Latin}]*)|([^\P{L}\p{Lo}\p{sc=Latin}]+)|((?:[^\P{L}\p{sc=Latin}${CJK}]|\p{M})+))`,
    // 9: digits, in groups of up to three as o200k splits them.
    String.raw`(\p{N}{1,3})`,
    // 10: ASCII punctuation runs, with a leading space and trailing newlines or slashes.
    String.raw`( ?[!-/:-@[-\x60{-~]+[\r\n/]*)`,
    // 11: whitespace, as o200k splits it: newlines with the whitespace before them ("\n    \n" is one token),
    //     spaces before a word (minus the word's own), the rest.
    String.raw`(\s*[\r\n]+|\s+(?!\S)|\s+)`,
    // 12: anything else (control characters, rare Latin letter kinds): a token each.
    String.raw`([\s\S])`,
  ].join("|"),
  "gu",
);

// Fitted on the Chinese and Japanese samples (≈1.35 characters per token overall).
const HAN_PER_CHAR = 0.6;
const KANA_PER_CHAR = 0.7;
// Common emoji are 1 token, rarer ones 2–3; ZWJ sequences and flags about one per UTF-16 unit.
const SYMBOL_PER_UNIT = 0.85;
// A word prefix that is not a space is often a token of its own (`"`, `.`, `_`, `/`).
const PREFIX_EXTRA = 0.5;
// Hangul: about 0.6 per syllable, plus 0.3 per word; at least one token.
const HANGUL_PER_WORD = 0.3;
const HANGUL_PER_CHAR = 0.6;
// Latin words of up to 7 letters are one token; then 1/7 per letter, 2/7 per letter beyond 11, so long
// rare words approach o200k's ≈3.5 letters per token ("antidisestablishmentarianism": 6, estimated 7).
const WORD_FREE_LETTERS = 7;
const WORD_LONG_LETTERS = 11;
const WORD_LETTERS_PER_TOKEN = 7;
// Cyrillic, Greek … : ≈5 letters per token; Arabic, Hebrew, Indic, Thai … : ≈3.3 characters per token.
const CASED_PER_WORD = 0.3;
const CASED_PER_CHAR = 0.2;
const OTHER_PER_WORD = 0.2;
const OTHER_PER_CHAR = 0.3;
// Punctuation runs: o200k has tokens for most 2–3 character runs ("\"},{\"", "});", "://"), then ≈1 per 12.
const PUNCT_FREE_CHARS = 2;
const PUNCT_CHARS_PER_TOKEN = 12;
// Whitespace runs: one token up to 16 characters, then 1 per 24 (spaces are cheaper, newlines and tabs dearer).
const SPACE_FREE_CHARS = 16;
const SPACE_CHARS_PER_TOKEN = 24;

function latinWord(letters: number): number {
  return (
    1 +
    Math.max(0, letters - WORD_FREE_LETTERS) / WORD_LETTERS_PER_TOKEN +
    Math.max(0, letters - WORD_LONG_LETTERS) / WORD_LETTERS_PER_TOKEN
  );
}

/**
 * Estimated o200k_base token count of `text`: 0 for "", otherwise at least 1. Linear in the length; the
 * only allocations are the regex matches, one per piece. Appending text never lowers the estimate.
 */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  let total = 0;
  // Whitespace at the very end is not charged. o200k merges "\n    \n" into one token while "\n    " is two,
  // so charging a trailing run would let one more newline lower the estimate; held back, it is charged once
  // something follows it (a trailing newline or two is under a token of error).
  let beforeTrailingSpace = 0;
  let inTrailingSpace = false;
  PIECE.lastIndex = 0;
  for (let m = PIECE.exec(text); m !== null; m = PIECE.exec(text)) {
    if (m[11] !== undefined) {
      if (!inTrailingSpace) beforeTrailingSpace = total;
      inTrailingSpace = true;
      total += 1 + Math.max(0, m[11].length - SPACE_FREE_CHARS) / SPACE_CHARS_PER_TOKEN;
      continue;
    }
    inTrailingSpace = false;
    const prefix = m[4];
    const extra = prefix && prefix !== " " ? PREFIX_EXTRA : 0;
    if (m[1] !== undefined) total += m[1].length * HAN_PER_CHAR;
    else if (m[2] !== undefined) total += m[2].length * KANA_PER_CHAR;
    else if (m[3] !== undefined) {
      const units = m[3].charCodeAt(0) === 32 ? m[3].length - 1 : m[3].length;
      total += Math.max(1, units * SYMBOL_PER_UNIT);
    } else if (m[5] !== undefined) total += extra + Math.max(1, HANGUL_PER_WORD + m[5].length * HANGUL_PER_CHAR);
    else if (m[6] !== undefined) total += extra + latinWord(m[6].length);
    else if (m[7] !== undefined) total += extra + Math.max(1, CASED_PER_WORD + m[7].length * CASED_PER_CHAR);
    else if (m[8] !== undefined) total += extra + Math.max(1, OTHER_PER_WORD + m[8].length * OTHER_PER_CHAR);
    else if (m[10] !== undefined) total += 1 + Math.max(0, m[10].length - PUNCT_FREE_CHARS) / PUNCT_CHARS_PER_TOKEN;
    else total += 1; // 9: a digit group, 12: any other character
  }
  if (inTrailingSpace) total = beforeTrailingSpace;
  // Round up: the estimate feeds budgets, and the fractional rates make `total` rarely an integer. The
  // epsilon keeps float noise (0.6 × 5 = 3.0000000000000004) from adding a token. Whitespace alone is 1.
  return Math.max(1, Math.ceil(total - 1e-9));
}

/**
 * Estimated prompt tokens of an OpenAI-style chat: the contents, CHAT_TOKENS_PER_MESSAGE per message and
 * CHAT_REPLY_PRIMING_TOKENS once, as gpt-tokenizer's `encodeChat` lays them out for gpt-4o. Providers that
 * add a default system prompt or tool schemas (not seen here) will report more.
 */
export function estimateChatTokens(messages: readonly { role: string; content: string }[]): number {
  let total = CHAT_REPLY_PRIMING_TOKENS;
  for (const message of messages) total += CHAT_TOKENS_PER_MESSAGE + estimateTokens(message.content);
  return total;
}
