// docs/test-vectors/merge.json through the phone's merge (crane-scan runs the same file in
// tests/scanner/test_merge_vectors.py): the service's answer checked against the device's own.
import assert from "node:assert/strict";
import { test } from "node:test";

import { mergeOnline } from "../src/core/index.js";
import { readVector } from "./core-support.js";

const VECTORS = readVector("merge.json");
const NOW = Date.parse("2026-11-24T02:00:00Z");
const checkedLocally = (answer) => answer && { answer, mode: "offline", ageSeconds: 7200, notes: [], clockBehind: false };

test("every merge vector gives the answer and notes the file says", () => {
  assert.ok(VECTORS.cases.length >= 10);
  for (const c of VECTORS.cases) {
    const local = checkedLocally(c.local);
    const merged = mergeOnline(c.service, local, { text: "https://example.com/not-ours", now: NOW });
    if (c.expected.unreachable) {
      assert.equal(merged.mode, "offline", c.name);
      if (local) {
        assert.deepEqual(merged.answer, c.local, c.name);
        assert.match(merged.notes[0], /^联网核验失败（the service's answer is not a verification answer: /, c.name);
      } else {
        assert.equal(merged.answer.verdict.ok, false, c.name);
        assert.match(merged.answer.status.reason, /^联网核验失败/, c.name);
      }
      continue;
    }
    assert.equal(merged.mode, "online", c.name);
    assert.deepEqual(JSON.parse(JSON.stringify(merged.answer)), c.expected.answer, c.name);
    assert.deepEqual(merged.notes, c.expected.notes, c.name);
  }
});

test("a 200 of any shape is read without a TypeError", () => {
  for (const body of [null, 1, "x", [], {}, { verdict: null }, { verdict: {}, signature: {}, status: {} },
    { verdict: { ok: true }, signature: { result: "valid" }, status: { state: "valid" }, checked_at: 5 }]) {
    const merged = mergeOnline(body, null, { text: "x", now: NOW });
    assert.equal(merged.mode, "offline", JSON.stringify(body));
  }
});
