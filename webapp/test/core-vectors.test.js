// Every payload vector of docs/test-vectors/ through the JavaScript core, stage by stage, with the
// results Python gives (tests/keys/test_vectors.py runs the same files through keys/).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { b32decode, unprefix } from "../src/core/qrtext.js";
import { parseCose } from "../src/core/cose.js";
import { inflate } from "../src/core/inflate.js";
import { readClaims } from "../src/core/claims.js";
import { toHex } from "../src/core/bytes.js";
import { Malformed } from "../src/core/errors.js";
import { loadTrustList, signatureJson, verifyAt } from "../src/core/index.js";
import { readVector, readVectorBytes } from "./core-support.js";

const INDEX = readVector("index.json");
const STAGES = ["unprefix", "base32", "cose", "signature", "inflate", "claims"];

const trustLists = new Map();
async function trustFor(vector) {
  const { file, sha256 } = vector.trust_list;
  const bytes = readVectorBytes(file);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), sha256);
  const cacheKey = file + vector.root_public_key;
  if (!trustLists.has(cacheKey)) trustLists.set(cacheKey, await loadTrustList(bytes, vector.root_public_key));
  return trustLists.get(cacheKey);
}

class Refused extends Error {}

function stage(expected, name, run) {
  if (expected.refused_at === name) {
    assert.throws(run, (exc) => exc instanceof Malformed && exc.message === expected.reason);
    for (const later of STAGES.slice(STAGES.indexOf(name) + 1)) {
      if (later !== "signature") assert.equal(expected[later], null, later);
    }
    throw new Refused();
  }
  return run();
}

test("the index names the stages and at least 30 vectors", () => {
  assert.deepEqual(INDEX.stages, STAGES);
  assert.ok(INDEX.vectors.length >= 30);
});

for (const entry of INDEX.vectors) {
  test(`vector ${entry.file}`, async () => {
    const vector = readVector(entry.file);
    const expected = vector.expected;
    const text = vector.qr_text;
    const trust = await trustFor(vector);
    const v = await verifyAt(text, trust, new Date(vector.verify_at));

    assert.equal(v.result, expected.signature);
    assert.equal(v.result, entry.signature);
    assert.deepEqual(signatureJson(v), expected.answer);
    assert.equal(v.reason, expected.reason ?? "");
    assert.ok(Object.isFrozen(v));

    try {
      const b32 = stage(expected, "unprefix", () => unprefix(text));
      assert.equal(b32, expected.unprefix);
      const raw = stage(expected, "base32", () => b32decode(b32));
      assert.equal(toHex(raw), expected.base32);
      const envelope = stage(expected, "cose", () => parseCose(raw));
      assert.deepEqual({ alg: envelope.algId, kid: envelope.kid, protected: toHex(envelope.protected),
        payload: toHex(envelope.payload), signature: toHex(envelope.signature) }, expected.cose);
      if (expected.inflate === null && !["inflate", "claims"].includes(expected.refused_at)) {
        // The verifier stops at the signature: it reads no claims that no trusted key signed.
        assert.equal(v.claims, null);
        assert.equal(expected.claims, null);
        assert.notEqual(v.result, "valid");
        return;
      }
      const claimsCbor = stage(expected, "inflate", () => inflate(envelope.payload));
      assert.equal(toHex(claimsCbor), expected.inflate);
      stage(expected, "claims", () => readClaims(envelope.payload));
    } catch (exc) {
      if (!(exc instanceof Refused)) throw exc;
      assert.equal(v.claims, null);
      return;
    }
    assert.deepEqual(v.certificate, expected.claims);
  });
}
