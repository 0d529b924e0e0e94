// The three signature algorithms against the vectors, and the refusals keys/algorithms.py makes.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fromBase64, fromHex, toHex } from "../src/core/bytes.js";
import { sigStructure } from "../src/core/cose.js";
import { verifyEd25519Fallback, verifySignature } from "../src/core/algorithms.js";
import { readVector } from "./core-support.js";

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const SM2_N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;

function signed(name) {
  const vector = readVector(name);
  const cose = vector.expected.cose;
  return {
    spki: fromBase64(vector.keys[0].public_key), signature: fromHex(cose.signature),
    message: sigStructure(fromHex(cose.protected), fromHex(cose.payload)),
  };
}

const withS = (signature, s) => fromHex(toHex(signature.subarray(0, 32)) + s.toString(16).padStart(64, "0"));
const withR = (signature, r) => fromHex(r.toString(16).padStart(64, "0") + toHex(signature.subarray(32)));

test("each algorithm verifies its vector and refuses a changed message", async () => {
  for (const [name, alg] of [["valid-ed25519.json", "EdDSA"], ["valid-es256.json", "ES256"], ["valid-sm2.json", "SM2"]]) {
    const { spki, signature, message } = signed(name);
    assert.equal(await verifySignature(alg, spki, signature, message), true, name);
    const changed = message.slice();
    changed[changed.length - 1] ^= 1;
    assert.equal(await verifySignature(alg, spki, signature, changed), false, name);
    assert.equal(await verifySignature(alg === "EdDSA" ? "SM2" : "EdDSA", spki, signature, message), false, name);
  }
});

test("the @noble/curves fallback for Ed25519 decides as WebCrypto does", async () => {
  for (const name of ["valid-ed25519.json", "valid-uncompressed.json", "tampered-signature.json", "tampered-payload.json"]) {
    const { spki, signature, message } = signed(name);
    const expected = readVector(name).expected.signature === "valid";
    assert.equal(await verifyEd25519Fallback(spki, signature, message), expected, name);
    assert.equal(await verifySignature("EdDSA", spki, signature, message), expected, name);
  }
  const { spki, message } = signed("valid-ed25519.json");
  assert.equal(await verifyEd25519Fallback(spki, new Uint8Array(63), message), false);
});

test("ES256 refuses the high-s twin of a valid signature, which ECDSA itself would accept", async () => {
  const { spki, signature, message } = signed("valid-es256.json");
  const s = BigInt("0x" + toHex(signature.subarray(32)));
  assert.ok(s <= P256_N / 2n, "issuers sign low-s");
  const twin = withS(signature, P256_N - s);
  const key = await crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  assert.equal(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, twin, message), true);
  assert.equal(await verifySignature("ES256", spki, twin, message), false);
  assert.equal(await verifySignature("ES256", spki, signature.subarray(0, 63), message), false);
});

test("SM2 refuses r and s outside 1..n-1 without throwing", async () => {
  const { spki, signature, message } = signed("valid-sm2.json");
  const r = BigInt("0x" + toHex(signature.subarray(0, 32)));
  const s = BigInt("0x" + toHex(signature.subarray(32)));
  for (const bad of [withR(signature, 0n), withS(signature, 0n), withR(signature, SM2_N), withS(signature, SM2_N),
    withR(signature, SM2_N + 1n), withR(signature, r ^ 1n), withS(signature, 2n ** 256n - 1n), withS(signature, SM2_N - s), new Uint8Array(64),
    signature.subarray(0, 40)]) {
    assert.equal(await verifySignature("SM2", spki, bad, message), false);
  }
  const notOnCurve = spki.slice();
  notOnCurve[notOnCurve.length - 1] ^= 1;
  assert.equal(await verifySignature("SM2", notOnCurve, signature, message), false);
});
