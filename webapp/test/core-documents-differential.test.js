// Differential for the documents a phone syncs: trust-list bodies and feed pages, damaged field by field
// and then signed properly (test-only keys), so the reader itself decides. keys/trustlist.py with
// scanner/offline.py's page checks (Python, the reference) and the core must accept and refuse alike, and
// read the same keys, issuers and entries.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { checkFeedPage, loadTrustList, verifyFeedPage } from "../src/core/index.js";
import { parseIso } from "../src/core/time.js";
import { VECTORS, prng, readVector, signPage, signTrustList, testKey } from "./core-support.js";

const REPO = join(VECTORS, "..", "..");
const PYTHON = join(REPO, ".venv", "bin", "python");
const LIST = readVector("trust-list.json");
const ROOT = LIST.list.root.public_key;

const REFERENCE = `
import base64, json, sys
from keys.algorithms import PublicKey
from keys.errors import TrustListError
from keys.feed import FeedError, verify_page
from keys.trustlist import SignedTrustList
from scanner.offline import PageError, check_page

job = json.load(sys.stdin)
root = PublicKey.from_spki(base64.b64decode(job["root"]))
iso = lambda t: t and t.isoformat()
out = []
trust = None
for doc in job["lists"]:
    try:
        t = SignedTrustList.loads(json.dumps(doc)).verify(root)
        trust = trust or t
        out.append({"serial": t.serial, "issued_at": iso(t.issued_at),
                    "issuers": [[i.code, i.name, i.credit_code or None] for i in t.issuers],
                    "keys": [[k.kid, k.alg.value, k.issuer, k.role.value, k.state.value, iso(k.not_before), iso(k.not_after),
                              iso(k.compromised_at)] for k in t.keys]})
    except TrustListError:
        out.append("refused")
    except Exception as exc:  # a crash in the reference: reported, and the core must refuse
        out.append("crash: " + type(exc).__name__ + ": " + str(exc))
trust = SignedTrustList.loads(json.dumps(job["good_list"])).verify(root)
pages = []
for doc, since in job["pages"]:
    try:
        page = verify_page(doc, trust)
        checked = check_page(page, since)
        pages.append([len(checked.entries), checked.next, checked.more])
    except (FeedError, PageError):
        pages.append("refused")
# Pages whose numbers JavaScript cannot hold as written, signed here with the feed test key.
import hashlib
from cryptography.hazmat.primitives.asymmetric import ed25519
from keys.trustlist import canonical_json
seed = hashlib.sha256(("crane-verify test vector key: " + "feed-210100-ed25519").encode()).digest()
feed_key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
signed = []
for text in job["odd_pages"]:
    page = json.loads(text)
    sig = feed_key.sign(b"crane-status-feed-v1\\x00" + canonical_json(page))
    doc = json.dumps({"page": page, "kid": job["feed_kid"], "alg": "EdDSA", "sig": base64.b64encode(sig).decode()},
                     ensure_ascii=False)
    verify_page(json.loads(doc), trust)
    signed.append(doc)
json.dump({"lists": out, "pages": pages, "odd_pages": signed}, sys.stdout, ensure_ascii=False)
`;

const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
const ODD = [null, 1, 1.5, "x", "", [], {}, true, false, -3];
const TIMES = ["2026-11-01", "2026-11-01T09:00:00", "2026-11-01T09:00Z", "2026-11-01 09:00:00+08:00", "2026-11-01T09:00:00.123456+08:00",
  "2026-11-01T09+08:00", "2026-02-30T00:00:00+00:00", "2026-11-01T24:00:00+00:00", "soon", "2026-11-01T09:00:00+08", "2026-11-01T09:00:00-0330"];

function mutateList(body, r) {
  const b = structuredClone(body);
  const key = pick(r, b.keys);
  const issuer = pick(r, b.issuers);
  switch (Math.floor(r() * 12)) {
    case 0: delete key[pick(r, Object.keys(key))]; break;
    case 1: key[pick(r, Object.keys(key))] = pick(r, ODD); break;
    case 2: key[pick(r, ["not_before", "not_after", "compromised_at"])] = pick(r, TIMES); break;
    case 3: key.alg = pick(r, ["ES256", "SM2", "EdDSA", "eddsa", "RS256"]); break;
    case 4: key.role = pick(r, ["issuer", "feed", "root", "Issuer"]); break;
    case 5: key.state = pick(r, ["active", "retired", "compromised", "lost"]); break;
    case 6: key.public_key = pick(r, [key.public_key.slice(0, -4), key.public_key + "=", LIST.list.keys[0].public_key, "AAAA"]); break;
    case 7: issuer[pick(r, ["code", "name", "credit_code"])] = pick(r, [...ODD, "11210100000000000K", "112101000000000000", "11210100000000000J"]); break;
    case 8: delete issuer[pick(r, ["code", "name", "credit_code"])]; break;
    case 9: b[pick(r, ["serial", "format", "issued_at", "issuers", "keys", "root"])] = pick(r, [...ODD, 7, "7", "7_0"]); break;
    case 10: delete b[pick(r, ["serial", "format", "issued_at", "issuers", "keys", "root"])]; break;
    default: b.issued_at = pick(r, TIMES);
  }
  return b;
}

function entry(n, extra = {}) {
  return { cursor: `${n}-0`, registration_no: `辽A-SY-2025-${n}`, version: 1, state: "valid", reason: "", since: null,
    superseded_by: null, record_no: "辽A-T-1", registered_at: null, ...extra };
}

function mutatePage(r) {
  const page = { format: 1, since: "0", next: "3-0", more: false, generated_at: "2026-11-24T01:00:00+00:00",
    entries: [entry(1), entry(2), entry(3)] };
  let since = "0";
  const e = pick(r, page.entries);
  switch (Math.floor(r() * 9)) {
    case 0: e[pick(r, ["cursor", "state", "version", "registration_no"])] = pick(r, ODD); break;
    case 1: delete e[pick(r, ["cursor", "state", "version", "registration_no"])]; break;
    case 2: page[pick(r, ["since", "next", "more", "entries"])] = pick(r, [...ODD, "3-0", "0"]); break;
    case 3: since = pick(r, ["1-0", "", "0-0", "x"]); break;
    case 4: e.cursor = pick(r, ["1-0", "2", "3-", "-1", "00001-0", "2-5", "3-0"]); break;
    case 5: e.version = pick(r, ["2", "a", 2.7, true]); break;
    case 6: page.entries = []; page.next = pick(r, ["0", "9-9"]); break;
    case 7: e.state = pick(r, ["revoked", "paper_legacy", "Revoked", "lost"]); break;
    default: break;
  }
  return [page, since];
}

const ODD_PAGES = [
  '{"format": 1.0, "since": "0", "next": "0", "more": false, "generated_at": "2026-11-24T01:00:00+00:00", "entries": []}',
  '{"format": 1, "since": "0", "next": "0", "more": false, "generated_at": "x", "entries": [], ' +
    '"n": [1e2, -0, -0.0, 1E400, -1e400, NaN, 0.1, 1e-7, 2.5E+3, 1e16, 123456789012345678901234567890, 1.5e-5, 12345678.9]}',
  '{"format": 1, "since": "0", "next": "0", "more": false, "generated_at": "x", "entries": [], "d": {"a": 1, "a": 2.0}, "\\u00e9\\ud83d\\ude00": "\\u2028"}',
];

function summary(t) {
  return { serial: t.serial, issued_at: t.body.issued_at ?? null, issuers: t.issuers.map((i) => [i.code, i.name, i.credit_code]),
    keys: t.keys.map((k) => [k.kid, k.alg, k.issuer, k.role, k.state, k.notBefore, k.notAfter, k.compromisedAt]) };
}

test("keys/ and the core read 150 re-signed trust lists and 120 feed pages alike", { skip: !existsSync(PYTHON) && "no .venv" }, async () => {
  const r = prng(5);
  const root = testKey("root-2026");
  const feedKey = testKey("feed-210100-ed25519");
  const lists = Array.from({ length: 150 }, () => signTrustList(mutateList(LIST.list, r), root));
  const pages = Array.from({ length: 120 }, () => { const [page, since] = mutatePage(r); return [signPage(page, feedKey), since]; });
  const run = spawnSync(PYTHON, ["-c", REFERENCE], { cwd: REPO, encoding: "utf8", maxBuffer: 1 << 26,
    input: JSON.stringify({ root: ROOT, lists, good_list: LIST, pages, odd_pages: ODD_PAGES, feed_kid: feedKey.kid }) });
  assert.equal(run.status, 0, run.stderr);
  const reference = JSON.parse(run.stdout);
  let accepted = 0;
  for (const [i, doc] of lists.entries()) {
    let mine;
    try {
      mine = summary(await loadTrustList(doc, ROOT));
      accepted++;
    } catch (exc) {
      assert.equal(exc.name, "TrustListError", exc.stack);
      mine = "refused";
    }
    let theirs = reference.lists[i];
    if (typeof theirs === "string" && theirs.startsWith("crash")) {
      // keys/trustlist.py reads a falsy "root" ([], {}, "", 0, false) as the root and then fails on it.
      assert.ok([[], {}, "", 0, false].some((v) => JSON.stringify(v) === JSON.stringify(doc.list.root)), theirs);
      theirs = "refused";
    }
    if (theirs !== "refused" && mine !== "refused") {
      // Times compared as moments: Python writes them with their own offset.
      for (const k of theirs.keys) for (const j of [5, 6, 7]) k[j] = k[j] === null ? null : parseIso(k[j]);
      theirs.issued_at = doc.list.issued_at ?? null;
    }
    assert.deepEqual(mine, theirs, JSON.stringify(doc.list).slice(0, 400));
  }
  const trust = await loadTrustList(LIST, ROOT);
  for (const [i, [doc, since]] of pages.entries()) {
    let mine;
    try {
      const checked = checkFeedPage(await verifyFeedPage(doc, trust), since);
      mine = [checked.entries.length, checked.next, checked.more];
    } catch (exc) {
      assert.equal(exc.name, "FeedError", exc.stack);
      mine = "refused";
    }
    assert.deepEqual(mine, reference.pages[i], JSON.stringify([doc.page, since]));
  }
  assert.ok(accepted > 30, `${accepted} lists accepted`);
  // Signed as text by Python, checked from the text: numbers keep the form json.loads gives them.
  for (const text of reference.odd_pages) assert.ok(await verifyFeedPage(text, trust), text);
  const parsedFirst = JSON.parse(reference.odd_pages[0]);
  await assert.rejects(verifyFeedPage(parsedFirst, trust), /trusted feed key/); // 1.0 lost by JSON.parse
});
