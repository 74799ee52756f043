#!/usr/bin/env node
// Signing-key rotation against a running deployment (OPS.md, "Signing-key rotation").
//   node ops/rotate-key.mjs list    [--base URL]
//   node ops/rotate-key.mjs publish --kid NEW_KID [--base URL] [--out DIR]
//   node ops/rotate-key.mjs retire  --kid OLD_KID [--base URL] [--force]
// The admin key is read from ADMIN_KEY in the environment, never from the command line.
import { generateKeyPairSync } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const [command, ...rest] = process.argv.slice(2);
const option = (name) => {
  const at = rest.indexOf(`--${name}`);
  return at >= 0 ? rest[at + 1] : undefined;
};
const base = option("base") ?? "http://127.0.0.1:8787";
const adminKey = process.env.ADMIN_KEY;
if (!adminKey) {
  console.error("set ADMIN_KEY in the environment");
  process.exit(2);
}

async function call(method, path, body) {
  const response = await fetch(new URL(path, base), {
    method,
    headers: { "X-Admin-Key": adminKey, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    console.error(`${method} ${path} → ${response.status}\n${text}`);
    process.exit(1);
  }
  return JSON.parse(text);
}

if (command === "list") {
  console.table((await call("GET", "/api/admin/keys")).keys);
} else if (command === "publish") {
  const kid = option("kid");
  if (!kid) throw new Error("--kid is required");
  const out = resolve(option("out") ?? ".", `${kid}.private.pem`);
  if (existsSync(out)) throw new Error(`${out} exists; pick another kid`);
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  writeFileSync(out, privateKey, { mode: 0o600 });
  await call("POST", "/api/admin/keys", { kid, public_key_pem: publicKey });
  const config = join("services", "billing", "wrangler.jsonc");
  console.log(`Published ${kid}. Private key written to ${out} (mode 0600; never commit it).

Next, after at least 300 s (the JWKS max-age), switch signing to it. Set both secrets in one
update (two \`secret put\` calls would deploy a version that signs with one key under the other's kid):
  node -e 'const fs=require("fs");process.stdout.write(JSON.stringify({PRIVATE_KEY_PEM:fs.readFileSync(process.argv[1],"utf8"),KID:process.argv[2]}))' ${out} ${kid} \\
    | npx wrangler secret bulk -c ${config}
then delete ${out}. Once GUEST_TOKEN_TTL_SECONDS + 300 s have passed, retire the old key:
  ADMIN_KEY=… node ops/rotate-key.mjs retire --kid <old kid> --base ${base}`);
} else if (command === "retire") {
  const kid = option("kid");
  if (!kid) throw new Error("--kid is required");
  const force = rest.includes("--force") ? "?force=true" : "";
  console.log(await call("DELETE", `/api/admin/keys/${encodeURIComponent(kid)}${force}`));
} else {
  console.error("usage: rotate-key.mjs list|publish|retire [--kid KID] [--base URL] [--force] [--out DIR]");
  process.exit(2);
}
