// Property: whatever a damaged print, a bad camera read or an attacker makes of a valid QR text,
// verifyAt answers (never throws), and answers `valid` only for the very same signed payload.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SignatureResult, loadTrustList, verifyAt } from "../src/core/index.js";
import { unprefix } from "../src/core/qrtext.js";
import { VALID, mutatedTexts, readVectorBytes } from "./core-support.js";

const RESULTS = new Set(Object.values(SignatureResult));

test("random mutations of valid QR texts always get an answer, valid only for the same payload", async () => {
  const trust = await loadTrustList(readVectorBytes("trust-list.json"), VALID[0].root_public_key);
  const seen = new Map();
  for (const [text, now, vector] of mutatedTexts(600, 12)) {
    const v = await verifyAt(text, trust, new Date(now));
    assert.ok(RESULTS.has(v.result), text);
    assert.equal(typeof v.reason, "string");
    seen.set(v.result, (seen.get(v.result) ?? 0) + 1);
    if (v.result === SignatureResult.VALID) assert.equal(unprefix(text), unprefix(vector.qr_text), text);
  }
  // The mutations reach past the first stages: some break the signature, some keep the payload whole.
  assert.ok(seen.get("malformed") > 0 && seen.get("invalid") > 0 && seen.get("valid") > 0, JSON.stringify([...seen]));
});

test("not text at all is malformed, not an exception", async () => {
  const trust = await loadTrustList(readVectorBytes("trust-list.json"), VALID[0].root_public_key);
  for (const value of [null, undefined, 42, {}, [], new Uint8Array(3)]) {
    assert.equal((await verifyAt(value, trust, 0)).result, "malformed");
  }
});
