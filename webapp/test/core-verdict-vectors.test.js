// The verdict vectors (docs/test-vectors/verdicts.json): every case through answerCode over a registry
// that follows the file's lookup rules, and every offline case also as the phone meets it: the entries
// as signed feed rows in OfflineData, answered by answerOffline. The whole answer JSON must be Python's.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { OfflineData, answerCode, answerOffline, loadTrustList, samePayload, sameRecordNo, unavailable } from "../src/core/index.js";
import { readVector, readVectorBytes } from "./core-support.js";

const DOC = readVector("verdicts.json");
const trustList = async () => {
  const bytes = readVectorBytes(DOC.trust_list.file);
  assert.equal(createHash("sha256").update(bytes).digest("hex"), DOC.trust_list.sha256);
  return loadTrustList(bytes, DOC.root_public_key);
};

const entryOf = (e) => ({
  registrationNo: e.registration_no, version: e.version, state: e.state, reason: e.reason, since: e.since,
  supersededBy: e.superseded_by, registeredAt: e.registered_at, issuer: e.issuer, certificate: e.certificate,
  match: "qr_text" in e.match ? samePayload(e.match.qr_text) : sameRecordNo(e.match.record_no),
});

/** The case's registry, by the rules of docs/credential-format.md "Verdict vectors". */
function registry(r) {
  const byNumbers = (registrationNo, version) => {
    if (r.unavailable) return unavailable(r.unavailable);
    const found = r.entries.find((e) => e.registration_no === registrationNo && e.version === version);
    if (found) return entryOf(found);
    return r.absent ? unavailable(r.absent) : null;
  };
  return {
    provenance: { source: r.source, dataTime: r.data_time ? Date.parse(r.data_time) : null },
    entry: byNumbers,
    byLicence(licenceId) {
      if (r.by_licence) return unavailable(r.by_licence);
      if (r.unavailable) return unavailable(r.unavailable);
      const listed = r.licences.find((l) => l.licence_id === licenceId.text);
      if (listed) return byNumbers(listed.registration_no, listed.version);
      return r.absent ? unavailable(r.absent) : null;
    },
  };
}

test("the verdict vectors cover both modes and every state", () => {
  assert.equal(DOC.vector_format, 1);
  assert.ok(DOC.cases.some((c) => c.mode === "online") && DOC.cases.some((c) => c.mode === "offline"));
  assert.ok(DOC.cases.length >= 30);
});

for (const c of DOC.cases) {
  test(`verdict ${c.name}`, async () => {
    const trust = await trustList();
    const { answer } = await answerCode(c.qr_text, trust, registry(c.registry), new Date(c.now));
    const expected = c.expected;
    assert.deepEqual([answer.signature.result, answer.status.state, answer.verdict.ok], [expected.signature, expected.state, expected.ok]);
    assert.deepEqual(answer.verdict, expected.verdict);
    assert.deepEqual(answer, expected.answer);
  });
}

for (const c of DOC.cases.filter((x) => x.mode === "offline")) {
  test(`verdict ${c.name}, from signed-feed rows on the phone`, async () => {
    const trust = await trustList();
    const data = OfflineData.fromJSON({
      cursor: `${c.registry.entries.length}-0`, generatedAt: c.offline.synced_at,
      rows: c.registry.entries.map((e, n) => ({
        cursor: `${n + 1}-0`, registration_no: e.registration_no, version: e.version, state: e.state, reason: e.reason,
        since: e.since, superseded_by: e.superseded_by, record_no: e.match.record_no, registered_at: e.registered_at,
      })),
    });
    const checked = await answerOffline(c.qr_text, trust, data, new Date(c.now), { maxAgeMs: c.offline.max_age_seconds * 1000 });
    assert.deepEqual(checked.answer, c.expected.answer);
    assert.equal(checked.clockBehind, false);
  });
}
