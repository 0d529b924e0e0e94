// Differential: keys.verdict.answer_code (Python, the reference) and answerCode give the same answer
// JSON, wording and times included, for the vector codes against registries in every state; and
// keys.answer.decide and decide agree on every signature, state and mismatch combination.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { SignatureResult, State, answerCode, decide, loadTrustList, samePayload, sameRecordNo, unavailable } from "../src/core/index.js";
import { VECTORS, readVector, readVectorBytes } from "./core-support.js";

const REPO = join(VECTORS, "..", "..");
const PYTHON = join(REPO, ".venv", "bin", "python");

const REFERENCE = `
import base64, json, sys
from datetime import datetime
from keys.algorithms import PublicKey
from keys.answer import SignatureResult, Source, State, decide
from keys.trustlist import SignedTrustList
from keys.verdict import Provenance, RegistryEntry, SamePayload, SameRecordNo, Unavailable, answer_code

job = json.load(sys.stdin)
trust = SignedTrustList.loads(open(job["trust_list"], "rb").read()).verify(
    PublicKey.from_spki(base64.b64decode(job["root"])))
moment = lambda text: datetime.fromisoformat(text) if text else None

class Registry:
    def __init__(self, case):
        self.found = case["found"]
        self.provenance = Provenance(Source(case["source"]), moment(case["data_time"]))

    def _lookup(self, reg=None, version=None):
        e = self.found
        if e is None or "unavailable" in e:
            return e and Unavailable(e["unavailable"])
        if reg is not None and (e["registration_no"], e["version"]) != (reg, version):
            return None
        m = e["match"]
        match = SamePayload(m["qr_text"]) if "qr_text" in m else SameRecordNo(m["record_no"])
        return RegistryEntry(e["registration_no"], e["version"], State(e["state"]), match, e["reason"],
                             moment(e["since"]), e["superseded_by"], moment(e["registered_at"]), e["issuer"],
                             e["certificate"])

    def entry(self, reg, version):
        return self._lookup(reg, version)

    def by_licence(self, licence_id):
        return self._lookup()

answers = [answer_code(c["text"], trust, Registry(c), datetime.fromisoformat(c["now"])).to_json() for c in job["cases"]]
decisions = [decide(SignatureResult(s), State(t), tuple(m)).to_json() for s, t, m in job["decisions"]]
json.dump({"answers": answers, "decisions": decisions}, sys.stdout, ensure_ascii=False)
`;

const TEXTS = ["valid-ed25519.json", "valid-sm2.json", "valid-full-licence-id.json", "key-compromised-signed-before.json",
  "key-retired-still-valid.json", "tampered-signature.json", "unknown-kid.json", "zlib-bomb.json", "issuer-mismatch.json",
  "signed-in-the-future.json", "not-our-code.json"].map(readVector);
const LICENCE = "https://other.example/zz?id=1.2.156.3005.2.11100000000013338W999.11210100000000000J.20250000457.001.5.";

function cases() {
  const out = [];
  for (const vector of TEXTS) {
    const claims = vector.expected.claims;
    const reg = claims?.registration_no ?? "辽A-SY-2025-00001";
    const version = claims?.version ?? 1;
    const base = { registration_no: reg, version, reason: "安全检查发现重大隐患", since: "2026-01-05T08:00:00+00:00",
      superseded_by: null, registered_at: "2025-06-01T00:00:00+08:00", issuer: "210100", certificate: null };
    const founds = [null, { unavailable: "数据不可用 / unavailable" }];
    for (const state of Object.values(State)) founds.push({ ...base, state, match: { qr_text: vector.qr_text } });
    founds.push({ ...base, state: "superseded", superseded_by: 2, match: { record_no: claims?.equipment.record_no ?? "" } });
    founds.push({ ...base, state: "valid", match: { record_no: "辽A-T-00000" } });
    founds.push({ ...base, state: "valid", match: { qr_text: vector.qr_text.toLowerCase().replace(/\/v\/.*$/, (m) => m.toUpperCase()) } });
    founds.push({ ...base, state: "valid", match: { qr_text: null }, registered_at: null, since: null });
    founds.push({ ...base, state: "valid", match: { qr_text: vector.qr_text }, certificate: { registration_no: reg, masked: true } });
    for (const found of founds) {
      for (const [source, dataTime] of [["registry", null], ["offline", "2026-11-24T01:00:00+00:00"]]) {
        out.push({ text: vector.qr_text, now: vector.verify_at, found, source, data_time: dataTime });
      }
    }
  }
  const paper = { registration_no: "辽A-SY-2024-00001", version: 1, state: "paper_legacy", reason: "", since: null,
    superseded_by: null, registered_at: null, issuer: "210100", certificate: null, match: { qr_text: null } };
  for (const found of [null, { unavailable: "离线不可查 / offline" }, paper, { ...paper, match: { qr_text: TEXTS[0].qr_text } }]) {
    out.push({ text: LICENCE, now: TEXTS[0].verify_at, found, source: "registry", data_time: null });
  }
  out.push({ text: LICENCE.replace(".5.", ".6."), now: TEXTS[0].verify_at, found: paper, source: "registry", data_time: null });
  out.push({ text: "x".repeat(2049), now: TEXTS[0].verify_at, found: null, source: "offline", data_time: "2026-11-24T01:00:00+00:00" });
  return out;
}

function registry(c) {
  const e = c.found;
  const lookup = (reg = null, version = null) => {
    if (e === null) return null;
    if ("unavailable" in e) return unavailable(e.unavailable);
    if (reg !== null && (e.registration_no !== reg || e.version !== version)) return null;
    return { registrationNo: e.registration_no, version: e.version, state: e.state, reason: e.reason, since: e.since,
      supersededBy: e.superseded_by, registeredAt: e.registered_at, issuer: e.issuer, certificate: e.certificate,
      match: "qr_text" in e.match ? samePayload(e.match.qr_text) : sameRecordNo(e.match.record_no) };
  };
  return {
    provenance: { source: c.source, dataTime: c.data_time ? Date.parse(c.data_time) : null },
    entry: lookup,
    byLicence: async () => lookup(),
  };
}

test("answer_code and answerCode give the same answers; decide agrees everywhere", { skip: !existsSync(PYTHON) && "no .venv" }, async () => {
  const root = TEXTS[0].root_public_key;
  const all = cases();
  const decisions = [];
  for (const s of Object.values(SignatureResult)) {
    for (const t of Object.values(State)) for (const m of [[], ["record_no"]]) decisions.push([s, t, m]);
  }
  const run = spawnSync(PYTHON, ["-c", REFERENCE], {
    cwd: REPO, input: JSON.stringify({ trust_list: join(VECTORS, "trust-list.json"), root, cases: all, decisions }),
    encoding: "utf8", maxBuffer: 1 << 26,
  });
  assert.equal(run.status, 0, run.stderr);
  const reference = JSON.parse(run.stdout);
  const trust = await loadTrustList(readVectorBytes("trust-list.json"), root);
  for (const [i, c] of all.entries()) {
    const { answer } = await answerCode(c.text, trust, registry(c), new Date(c.now));
    assert.deepEqual(answer, reference.answers[i], JSON.stringify(c).slice(0, 300));
  }
  decisions.forEach(([s, t, m], i) => assert.deepEqual({ ...decide(s, t, m) }, reference.decisions[i]));
  assert.ok(all.length > 250);
});
