// Test-only signing with the published test keys of docs/test-vectors/keys.json: each Ed25519 key's
// seed is SHA-256("crane-verify test vector key: " + label). Anyone can sign with them; tests only.
import { createHash } from "node:crypto";

import { ed25519 } from "@noble/curves/ed25519.js";

import { concat, toBase64, utf8 } from "../src/core/bytes.js";
import { canonicalJson } from "../src/core/canonical.js";
import { readVector } from "./core-helpers.js";

const KEYS = readVector("keys.json");

export function testKey(label) {
  const published = KEYS.keys.find((k) => k.label === label);
  if (!published || published.alg !== "EdDSA") throw new Error(`no Ed25519 test key ${label}`);
  const seed = new Uint8Array(createHash("sha256").update(KEYS.label_prefix + label, "utf8").digest());
  return { ...published, sign: (message) => ed25519.sign(message, seed) };
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
