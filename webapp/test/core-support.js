// Shared by the core tests (kept in one file: node --test runs every .js file under test/ as a test):
// the vectors of docs/test-vectors/, seeded random damage to valid QR texts, and signing with the
// published test-only keys (each Ed25519 seed is SHA-256("crane-verify test vector key: " + label);
// anyone can sign with them; tests only).
import { createHash, createPrivateKey, sign, webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { concat, fromHex, toBase64, utf8 } from "../src/core/bytes.js";
import { canonicalJson } from "../src/core/canonical.js";

export const VECTORS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "test-vectors");

export const readVector = (name) => JSON.parse(readFileSync(join(VECTORS, name), "utf8"));
export const readVectorBytes = (name) => new Uint8Array(readFileSync(join(VECTORS, name)));

// Node 18 has WebCrypto only as node:crypto's webcrypto; browsers and Node 20 have globalThis.crypto.
if (!globalThis.crypto) globalThis.crypto = webcrypto;

// --- random damage to valid QR texts ---------------------------------------------------------------

export const VALID = ["valid-ed25519.json", "valid-es256.json", "valid-sm2.json", "valid-uncompressed.json",
  "valid-full-licence-id.json", "valid-lowercase-url.json"].map(readVector);
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abz019:/.?#= \t\n\u3000\u00e9\u{1f600}\ud800";

export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MUTATIONS = [
  (t, r) => { const i = Math.floor(r() * t.length); return t.slice(0, i) + ALPHABET[Math.floor(r() * ALPHABET.length)] + t.slice(i + 1); },
  (t, r) => { const i = Math.floor(r() * t.length); return t.slice(0, i) + ALPHABET[Math.floor(r() * ALPHABET.length)] + t.slice(i); },
  (t, r) => { const i = Math.floor(r() * t.length); return t.slice(0, i) + t.slice(i + 1); },
  (t, r) => t.slice(0, Math.floor(r() * t.length)),
  (t, r) => { const i = Math.floor(r() * (t.length - 1)); return t.slice(0, i) + t[i + 1] + t[i] + t.slice(i + 2); },
  (t, r) => { const i = Math.floor(r() * t.length); const j = i + Math.floor(r() * 40); return t.slice(0, j) + t.slice(i, j) + t.slice(j); },
  (t) => t.toLowerCase(),
  (t, r) => " \n\t".slice(0, 1 + Math.floor(r() * 3)) + t + "\u3000",
  (t, r) => t + "A".repeat(1 + Math.floor(r() * 8)),
  (t, r) => t.repeat(1 + Math.floor(r() * 7)),
];

/** `count` mutated texts with the clock of the vector they came from: [[text, verify_at], ...]. */
export function mutatedTexts(count, seed) {
  const random = prng(seed);
  const out = [];
  for (let round = 0; round < count; round++) {
    const vector = VALID[round % VALID.length];
    let text = vector.qr_text;
    const steps = 1 + Math.floor(random() * 3);
    for (let s = 0; s < steps; s++) text = MUTATIONS[Math.floor(random() * MUTATIONS.length)](text, random);
    out.push([text, vector.verify_at, vector]);
  }
  return out;
}

// --- signing with the test-only keys ------------------------------------------------------------------

const KEYS = readVector("keys.json");

export function testKey(label) {
  const published = KEYS.keys.find((k) => k.label === label);
  if (!published || published.alg !== "EdDSA") throw new Error(`no Ed25519 test key ${label}`);
  const seed = new Uint8Array(createHash("sha256").update(KEYS.label_prefix + label, "utf8").digest());
  // The RFC 8032 seed as a PKCS #8 key (RFC 8410), for node:crypto's Ed25519.
  const key = createPrivateKey({ key: Buffer.from(concat(fromHex("302e020100300506032b657004220420"), seed)), format: "der", type: "pkcs8" });
  return { ...published, sign: (message) => new Uint8Array(sign(null, message, key)) };
}

const TRUST_DOMAIN = utf8("crane-trust-list-v1\0");
const FEED_DOMAIN = utf8("crane-status-feed-v1\0");

/** A trust-list document {list, signatures} signed by the given root test keys (SignedTrustList.sign). */
export function signTrustList(body, ...roots) {
  const message = concat(TRUST_DOMAIN, canonicalJson(body));
  return { list: body, signatures: roots.map((r) => ({ kid: r.kid, alg: "EdDSA", sig: toBase64(r.sign(message)) })) };
}

/** A signed feed page (keys.feed.sign_page). */
export function signPage(page, key) {
  return { page, kid: key.kid, alg: "EdDSA", sig: toBase64(key.sign(concat(FEED_DOMAIN, canonicalJson(page)))) };
}
