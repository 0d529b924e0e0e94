/**
 * Signature algorithms as keys/algorithms.py verifies them. Signatures are raw bytes as COSE carries
 * them: Ed25519's 64 bytes, and r||s (32 + 32) for ES256 and SM2. Ed25519 and ES256 go through
 * WebCrypto; where WebCrypto lacks Ed25519 (Chrome before 137), @noble/curves verifies it. SM2 with SM3
 * over Z_A||M, Z_A with the default user ID 1234567812345678, goes through sm-crypto-v2.
 * A verify never throws for a bad key, a bad signature or a library's refusal (`false`); a verifier chunk
 * that cannot be loaded throws ChunkUnavailable, so a failed download never reads as a bad signature.
 */

import { bigFromBytes, equal, toHex } from "./bytes.js";
import { ChunkUnavailable } from "./errors.js";

export const Alg = Object.freeze({ EDDSA: "EdDSA", ES256: "ES256", SM2: "SM2" });

// COSE algorithm identifiers (RFC 9053); SM2 takes one from the private-use range.
const COSE_IDS = Object.freeze({ [Alg.EDDSA]: -8, [Alg.ES256]: -7, [Alg.SM2]: -65601 });
export const coseId = (alg) => COSE_IDS[alg];

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const SM2_N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const SM2_USER_ID = "1234567812345678";

// SubjectPublicKeyInfo DER as keys/algorithms.py writes it, up to the key bytes.
const SPKI_PREFIXES = Object.freeze({
  [Alg.EDDSA]: Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00),
  [Alg.ES256]: Uint8Array.of(0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
    0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04),
  [Alg.SM2]: Uint8Array.of(0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
    0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03, 0x42, 0x00, 0x04),
});
const KEY_LENGTHS = Object.freeze({ [Alg.EDDSA]: 32, [Alg.ES256]: 64, [Alg.SM2]: 64 });

/** The algorithm of a public key in SPKI DER, or null when it is none of ours (PublicKey.from_spki). */
export function algOfSpki(spki) {
  for (const [alg, prefix] of Object.entries(SPKI_PREFIXES)) {
    if (spki.length === prefix.length + KEY_LENGTHS[alg] && equal(spki.subarray(0, prefix.length), prefix)) return alg;
  }
  return null;
}

/** The key bytes after the SPKI prefix: Ed25519's 32 bytes, or 04||x||y for the curves. */
function keyBytes(alg, spki) {
  return alg === Alg.EDDSA ? spki.subarray(SPKI_PREFIXES[alg].length) : spki.subarray(SPKI_PREFIXES[alg].length - 1);
}

/** The key id: the first 8 bytes of SHA-256 over the SPKI DER, as 16 lowercase hex (kid_of). */
export async function kidOf(spki) {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", spki));
  return toHex(digest.subarray(0, 8));
}

/** Whether the point of a curve key lies on its curve, as loading the key checks in Python. */
export async function isValidPublicKey(alg, spki) {
  if (algOfSpki(spki) !== alg) return false;
  const point = keyBytes(alg, spki);
  try {
    if (alg === Alg.SM2) return (await sm2()).verifyPublicKey(toHex(point));
    if (alg === Alg.ES256) {
      await importKey(alg, spki);
      return true;
    }
    return true;
  } catch (exc) {
    if (exc instanceof ChunkUnavailable) throw exc;
    return false;
  }
}

const subtle = () => globalThis.crypto.subtle;
const imported = new Map();

function importKey(alg, spki) {
  const cacheKey = alg + toHex(spki);
  let key = imported.get(cacheKey);
  if (!key) {
    const params = alg === Alg.EDDSA ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
    key = subtle().importKey("spki", spki, params, false, ["verify"]);
    imported.set(cacheKey, key);
    key.catch(() => imported.delete(cacheKey));
  }
  return key;
}

let nobleEd25519 = null;

/** Ed25519 with @noble/curves, strictly as RFC 8032 (not ZIP-215): the path where WebCrypto lacks it. */
export async function verifyEd25519Fallback(spki, signature, data) {
  nobleEd25519 ??= (await loadChunk(() => import("@noble/curves/ed25519.js"), "Ed25519")).ed25519;
  try {
    return nobleEd25519.verify(signature, data, keyBytes(Alg.EDDSA, spki), { zip215: false });
  } catch {
    return false;
  }
}

async function verifyEd25519(spki, signature, data) {
  let key;
  try {
    key = await importKey(Alg.EDDSA, spki);
  } catch {
    // This WebCrypto has no Ed25519 (Chrome before 137), or refuses the key.
    return verifyEd25519Fallback(spki, signature, data);
  }
  return subtle().verify({ name: "Ed25519" }, key, signature, data);
}

async function verifyEs256(spki, signature, data) {
  // ECDSA accepts (r, s) and (r, n - s) alike; only the low form is accepted, so one payload has one signature.
  if (signature.length !== 64 || bigFromBytes(signature.subarray(32)) > P256_N / 2n) return false;
  const key = await importKey(Alg.ES256, spki);
  return subtle().verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, data);
}

// sm-crypto-v2 is loaded when an SM2 key is first used: most phones never need it, and the app's JS budget
// (webapp/build.mjs) counts only what a page loads before it can scan.
let smCrypto = null;
const sm2 = async () => (smCrypto ??= (await loadChunk(() => import("sm-crypto-v2"), "SM2")).sm2);

async function loadChunk(load, name) {
  try {
    return await load();
  } catch (exc) {
    throw new ChunkUnavailable(`${name} 核验组件未能加载，请联网后重试 / the ${name} verifier could not be loaded (${exc.message})`);
  }
}

// A public key used again is worth its precomputed multiples (a few hundred ms once, then each check is
// about ten times faster): an inspector on one site scans many certificates of one authority.
const sm2Uses = new Map();

async function sm2PublicKey(hex) {
  const lib = await sm2();
  const seen = sm2Uses.get(hex);
  if (seen === undefined) {
    sm2Uses.set(hex, null);
    return hex;
  }
  if (seen === null) sm2Uses.set(hex, lib.precomputePublicKey(hex));
  return sm2Uses.get(hex);
}

async function verifySm2(spki, signature, data) {
  if (signature.length !== 64) return false;
  const r = bigFromBytes(signature.subarray(0, 32));
  const s = bigFromBytes(signature.subarray(32));
  // GB/T 32918.2 step B1/B2; sm-crypto-v2 throws on some values outside the range instead of refusing.
  if (r < 1n || r >= SM2_N || s < 1n || s >= SM2_N) return false;
  const key = await sm2PublicKey(toHex(keyBytes(Alg.SM2, spki)));
  return (await sm2()).doVerifySignature(data, toHex(signature), key, { der: false, hash: true, userId: SM2_USER_ID });
}

const VERIFIERS = Object.freeze({ [Alg.EDDSA]: verifyEd25519, [Alg.ES256]: verifyEs256, [Alg.SM2]: verifySm2 });

/** Whether `signature` over `data` verifies with the key (SPKI DER) of algorithm `alg`. Never throws. */
export async function verifySignature(alg, spki, signature, data) {
  if (algOfSpki(spki) !== alg) return false;
  try {
    return (await VERIFIERS[alg](spki, signature, data)) === true;
  } catch (exc) {
    if (exc instanceof ChunkUnavailable) throw exc;
    return false;
  }
}
