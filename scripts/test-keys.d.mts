/** A PKCS#8 private key and SPKI public key, both PEM, made fresh per test run. */
export function testKeyPair(): { privateKeyPem: string; publicKeyPem: string };
