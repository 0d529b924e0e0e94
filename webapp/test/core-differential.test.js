// Differential: the same damaged and hostile texts through keys/ (Python, the reference) and through
// the JavaScript core give the same signature result and reason. Needs the project's Python environment (.venv).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { loadTrustList, verifyAt } from "../src/core/index.js";
import { VECTORS, mutatedTexts, readVector, readVectorBytes } from "./core-support.js";

const REPO = join(VECTORS, "..", "..");
const PYTHON = join(REPO, ".venv", "bin", "python");

const REFERENCE = `
import base64, json, sys
from datetime import datetime
from keys.algorithms import PublicKey
from keys.payload import verify_at
from keys.trustlist import SignedTrustList
job = json.load(sys.stdin)
trust = SignedTrustList.loads(open(job["trust_list"], "rb").read()).verify(
    PublicKey.from_spki(base64.b64decode(job["root"])))
out = []
for text, now in job["cases"]:
    v = verify_at(text, trust, datetime.fromisoformat(now))
    out.append([v.result.value, v.reason])
json.dump(out, sys.stdout)
`;

test("keys.payload.verify_at and verifyAt agree on 300 mutated texts, reasons included", { skip: !existsSync(PYTHON) && "no .venv" }, async () => {
  const root = readVector("valid-ed25519.json").root_public_key;
  const cases = mutatedTexts(300, 7);
  const run = spawnSync(PYTHON, ["-c", REFERENCE], {
    cwd: REPO, input: JSON.stringify({ trust_list: join(VECTORS, "trust-list.json"), root, cases: cases.map(([t, n]) => [t, n]) }),
    encoding: "utf8", maxBuffer: 1 << 26,
  });
  assert.equal(run.status, 0, run.stderr);
  const reference = JSON.parse(run.stdout);
  const trust = await loadTrustList(readVectorBytes("trust-list.json"), root);
  for (const [i, [text, now]] of cases.entries()) {
    const v = await verifyAt(text, trust, new Date(now));
    assert.deepEqual([v.result, v.reason], reference[i], JSON.stringify(text));
  }
});
