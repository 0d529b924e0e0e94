// scanner/online.py's merge rule and the answer for an unplaceable code, as the app takes them from the core.
import assert from "node:assert/strict";
import { test } from "node:test";

import { NO_DATA, decide, mergeOnline, placelessAnswer, unplacedCode } from "../src/core/index.js";
import { readVector } from "./core-support.js";

const NOW = Date.parse("2026-11-24T02:00:00Z");
const service = (result, state) => placelessAnswer(result, state, "r", NOW, "registry");
const local = (result, state) => ({ answer: placelessAnswer(result, state, "r", NOW), mode: "offline", ageSeconds: 60,
  notes: [], clockBehind: true });

test("the registry's status wins over the local answer", () => {
  const merged = mergeOnline(service("valid", "revoked"), local("valid", "valid"));
  assert.equal(merged.mode, "online");
  assert.equal(merged.answer.status.state, "revoked");
  assert.deepEqual(merged.answer.verdict, decide("valid", "revoked"));
  assert.equal(merged.ageSeconds, 60);
  assert.equal(merged.clockBehind, true);
  assert.deepEqual(merged.notes, []);
});

test("a signature this device proves bad overrides the service's valid, with a note", () => {
  for (const bad of ["invalid", "malformed", "key_revoked", "key_not_valid_at_issue"]) {
    const merged = mergeOnline(service("valid", "valid"), local(bad, "unknown"));
    assert.equal(merged.answer.signature.result, bad);
    assert.equal(merged.answer.status.state, "valid");
    assert.deepEqual(merged.answer.verdict, decide(bad, "valid"));
    assert.equal(merged.answer.verdict.ok, false);
    assert.match(merged.notes[0], /以本机结果为准/);
  }
});

test("a key the synced list does not hold is not taken as good; no local answer leaves the service's word, said so", () => {
  const answer = service("valid", "valid");
  const merged = mergeOnline(answer, local("unknown_key", "unknown"));
  assert.equal(merged.answer.signature.result, "unknown_key");
  assert.equal(merged.answer.verdict.ok, false);
  const alone = mergeOnline(answer, null);
  assert.deepEqual(alone.answer.verdict, answer.verdict);
  assert.equal(alone.ageSeconds, null);
  assert.match(alone.notes[0], /仅凭服务答复/);
});

test("a code nothing can place reads unknown_key if it is ours, malformed if not", () => {
  const ours = unplacedCode(readVector("valid-ed25519.json").qr_text, NOW);
  assert.equal(ours.signature.result, "unknown_key");
  assert.equal(ours.status.state, "unknown");
  assert.equal(ours.status.reason, NO_DATA);
  assert.equal(ours.verdict.ok, false);
  assert.equal(ours.checked_at, "2026-11-24T02:00:00.000Z");
  const other = unplacedCode("https://example.com/not-a-crane", NOW, "why");
  assert.equal(other.signature.result, "malformed");
  assert.equal(other.status.reason, "why");
});
