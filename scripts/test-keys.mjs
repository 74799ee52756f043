// RSA key pairs for tests, made fresh for every run: no private key is ever committed.
import { generateKeyPairSync } from "node:crypto";

/** A PKCS#8 private key and SPKI public key, both PEM. */
export function testKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}
