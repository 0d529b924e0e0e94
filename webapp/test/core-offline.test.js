// The offline path as an inspector meets it with no signal: signed feed pages verified before they are
// kept, folded per certificate version, and answers from them that never guess past the data's age.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  FeedError, OfflineData, answerOffline, answerOfflineByNumbers, loadTrustList, markFor, verifyFeedPage, withMismatches,
} from "../src/core/index.js";
import { readVector, readVectorBytes, signPage, signTrustList, testKey } from "./core-support.js";

const LIST = readVector("trust-list.json");
const ROOT = readVector("valid-ed25519.json").root_public_key;
const FEED_KEY = testKey("feed-210100-ed25519");
const VALID = readVector("valid-ed25519.json");
const COMPROMISED_BEFORE = readVector("key-compromised-signed-before.json");
const NOW = Date.parse("2026-11-24T10:00:00+08:00");
const GENERATED = "2026-11-24T01:00:00+00:00"; // 09:00 China time, an hour before NOW

const trustList = () => loadTrustList(readVectorBytes("trust-list.json"), ROOT);

function entry(cursor, registrationNo, state, extra = {}) {
  return { cursor, registration_no: registrationNo, version: 1, state, reason: "", since: "2025-03-01T01:30:00+00:00",
    superseded_by: null, record_no: "", registered_at: "2025-03-01T02:00:00+00:00", ...extra };
}

function page(since, entries, { more = false, generatedAt = GENERATED } = {}) {
  return { format: 1, since, next: entries.length ? entries.at(-1).cursor : since, more, generated_at: generatedAt, entries };
}

async function synced(entries, options) {
  const trust = await trustList();
  const data = OfflineData.empty();
  data.apply(await verifyFeedPage(JSON.stringify(signPage(page("0", entries, options), FEED_KEY)), trust), "0");
  return { trust, data };
}

test("a page signed by the feed key is accepted; changed, or signed by anyone else, it is refused", async () => {
  const trust = await trustList();
  const good = signPage(page("0", [entry("1-0", "辽A-SY-2025-00456", "valid")]), FEED_KEY);
  assert.deepEqual(await verifyFeedPage(good, trust), good.page);
  const changed = structuredClone(good);
  changed.page.entries[0].state = "revoked";
  await assert.rejects(verifyFeedPage(changed, trust), FeedError);
  const byIssuer = signPage(good.page, testKey("issuer-210100-ed25519")); // a certificate key is no feed key
  await assert.rejects(verifyFeedPage(byIssuer, trust), /trusted feed key/);
  for (const garbage of ["", "[]", "{}", { page: good.page, kid: good.kid, sig: "%%%" }, { page: [], kid: good.kid, sig: good.sig }]) {
    await assert.rejects(verifyFeedPage(garbage, trust), FeedError);
  }
});

test("a compromised feed key signs nothing a phone keeps", async () => {
  const body = structuredClone(LIST.list);
  Object.assign(body.keys.find((k) => k.kid === FEED_KEY.kid), { state: "compromised", compromised_at: "2026-11-01T00:00:00+08:00" });
  const trust = await loadTrustList(signTrustList(body, testKey("root-2026")), ROOT);
  await assert.rejects(verifyFeedPage(signPage(page("0", []), FEED_KEY), trust), FeedError);
});

test("pages continue from the stored cursor; an older page or a cursor going back is refused", async () => {
  const { data } = await synced([entry("5-0", "A", "valid"), entry("6-0", "B", "valid")]);
  assert.equal(data.cursor, "6-0");
  assert.throws(() => data.apply(page("0", [entry("1-0", "A", "revoked")]), "0"), /stored cursor/);
  assert.throws(() => data.apply(page("5-0", [entry("7-0", "A", "revoked")]), "5-0"), /stored cursor/);
  assert.throws(() => data.apply(page("6-0", [entry("7-0", "A", "revoked")], { generatedAt: "2026-11-23T00:00:00+00:00" }), "6-0"),
    /older than the newest accepted page/);
  assert.throws(() => data.apply(page("6-0", [entry("8-0", "A", "revoked"), entry("7-0", "B", "revoked")]), "6-0"), /not after/);
  assert.throws(() => data.apply({ ...page("6-0", [entry("7-0", "A", "revoked")]), next: "9-0" }, "6-0"), /last entry's cursor/);
  assert.throws(() => data.apply(page("6-0", [entry("7-0", "A", "lost")]), "6-0"), /not a valid State/);
  assert.equal(data.get("A", 1).state, "valid"); // nothing refused was kept
  data.apply(page("6-0", [entry("7-0", "A", "revoked")], { generatedAt: "2026-11-24T02:00:00+00:00" }), "6-0");
  assert.equal(data.get("A", 1).state, "revoked");
  assert.equal(data.generatedAt, "2026-11-24T02:00:00+00:00");
  const copy = OfflineData.fromJSON(JSON.parse(JSON.stringify(data)));
  assert.deepEqual([copy.cursor, copy.count, copy.get("A", 1).state], ["7-0", 2, "revoked"]);
});

test("offline, a valid certificate reads valid with the data time; revoked and superseded read so", async () => {
  const reg = "辽A-SY-2025-00456";
  for (const [state, ok, mark] of [["valid", true, "ok"], ["revoked", false, "bad"], ["superseded", false, "warn"]]) {
    const { trust, data } = await synced([entry("1-0", reg, state, { superseded_by: state === "superseded" ? 2 : null })]);
    const checked = await answerOffline(VALID.qr_text, trust, data, NOW);
    assert.equal(checked.mode, "offline");
    assert.equal(checked.ageSeconds, 3600);
    assert.deepEqual(checked.notes, []);
    const { answer } = checked;
    assert.deepEqual([answer.signature.result, answer.status.state, answer.verdict.ok, markFor(answer)], ["valid", state, ok, mark]);
    assert.equal(answer.status.source, "offline");
    assert.equal(answer.status.data_time, "2026-11-24T09:00:00+08:00");
    assert.equal(answer.certificate.registered_at, "2025-03-01T02:00:00+00:00");
    assert.equal(answer.checked_at, "2026-11-24T10:00:00+08:00");
    if (state === "superseded") assert.deepEqual(answer.status.superseded_by, { registration_no: reg, version: 2 });
  }
});

test("past the maximum age the status is unknown, never guessed; a clock behind the data is flagged", async () => {
  const { trust, data } = await synced([entry("1-0", "辽A-SY-2025-00456", "valid")]);
  const late = await answerOffline(VALID.qr_text, trust, data, Date.parse(GENERATED) + 7 * 86_400_000 + 1000);
  assert.equal(late.answer.status.state, "unknown");
  assert.equal(late.answer.status.reason,
    "离线数据已过期（数据截至 2026-11-24 09:00，超过允许的 7 天 / 7 d） / offline data as of 2026-11-24 09:00 is older than the allowed 7 天 / 7 d");
  assert.equal(late.answer.verdict.ok, false);
  const shorter = await answerOffline(VALID.qr_text, trust, data, NOW, { maxAgeMs: 1800_000 });
  assert.equal(shorter.answer.status.state, "unknown");
  const early = await answerOffline(VALID.qr_text, trust, data, Date.parse(GENERATED) - 60_000);
  assert.equal(early.clockBehind, true);
  assert.equal(early.ageSeconds, -60);
  assert.match(early.notes[0], /设备时钟早于上次同步时间（2026-11-24 09:00）/);
  assert.equal(early.answer.status.state, "valid");
});

test("what the data cannot vouch for is unknown; a moved code, a bad signature, not ours are said so", async () => {
  const { trust, data } = await synced([entry("1-0", "辽A-SY-2025-00456", "valid", { record_no: "辽A-T-99999" })]);
  const moved = (await answerOffline(VALID.qr_text, trust, data, NOW)).answer;
  assert.deepEqual([moved.status.state, moved.status.reason], ["not_found", "二维码内容与登记的证书不一致 / The QR content differs from the registered certificate"]);
  const unseen = (await answerOffline(readVector("valid-es256.json").qr_text, trust, data, NOW)).answer;
  assert.deepEqual([unseen.status.state, unseen.status.reason], ["unknown", "离线数据中无此证书（数据截至 2026-11-24 09:00） / not in offline data as of 2026-11-24 09:00"]);
  const tampered = (await answerOffline(readVector("tampered-signature.json").qr_text, trust, data, NOW)).answer;
  assert.deepEqual([tampered.signature.result, tampered.status.state, tampered.certificate], ["invalid", "unknown", null]);
  const other = (await answerOffline("WIFI:S:site;T:WPA;P:secret;;", trust, data, NOW)).answer;
  assert.deepEqual([other.signature.result, other.status.reason], ["malformed", "不是本系统的证书二维码 / not a certificate code of this system"]);
  const licence = (await answerOffline("1.2.156.3005.2.11100000000013338W999.11210100000000000J.20250000457.001.5", trust, data, NOW)).answer;
  assert.deepEqual([licence.signature.result, licence.status.state], ["not_applicable", "unknown"]);
  const none = (await answerOffline(VALID.qr_text, trust, OfflineData.empty(), NOW)).answer;
  assert.deepEqual([none.signature.result, none.status.state], ["valid", "unknown"]);
});

test("a payload registered after its key's compromise reads key_revoked, however it was backdated", async () => {
  const reg = "辽A-SY-2025-00460";
  const before = await synced([entry("1-0", reg, "valid", { registered_at: "2025-05-31T15:59:59+00:00" })]);
  assert.equal((await answerOffline(COMPROMISED_BEFORE.qr_text, before.trust, before.data, NOW)).answer.signature.result, "valid");
  const after = await synced([entry("1-0", reg, "valid", { registered_at: "2025-06-02T00:00:00+00:00" })]);
  const answer = (await answerOffline(COMPROMISED_BEFORE.qr_text, after.trust, after.data, NOW)).answer;
  assert.deepEqual([answer.signature.result, answer.verdict.ok], ["key_revoked", false]);
});

test("a plate that does not match turns a valid verdict to 证书与设备不符", async () => {
  const { trust, data } = await synced([entry("1-0", "辽A-SY-2025-00456", "valid")]);
  const { answer } = await answerOffline(VALID.qr_text, trust, data, NOW);
  const crossed = withMismatches(answer, ["factory_serial"]);
  assert.deepEqual(crossed.verdict, { ok: false, zh: "证书与设备不符", en: "Certificate does not match this crane or site" });
  assert.equal(markFor(crossed), "bad");
  assert.equal(withMismatches(answer, []).verdict.ok, true);
});

test("lookup by the two numbers works offline, paper certificates included", async () => {
  const { trust, data } = await synced([
    entry("1-0", "辽A-SY-2024-00001", "paper_legacy", { record_no: "辽A-T-00123" }),
    entry("2-0", "辽A-SY-2025-00456", "valid", { record_no: "辽A-T-23817" }),
    entry("3-0", "辽A-SY-2025-00456", "valid", { version: 2, record_no: "辽A-T-23817" })]);
  const paper = await answerOfflineByNumbers(" 辽A-SY-2024-00001 ", "辽a－t－00123", trust, data, NOW);
  assert.deepEqual([paper.answer.signature.result, paper.answer.status.state, paper.answer.verdict.ok], ["not_applicable", "paper_legacy", true]);
  const electronic = await answerOfflineByNumbers("辽A-SY-2025-00456", "辽A-T-23817", trust, data, NOW);
  assert.deepEqual([electronic.answer.status.state, electronic.answer.verdict.ok], ["valid", false]); // the code itself is not at hand
  assert.equal(await answerOfflineByNumbers("辽A-SY-2025-00456", "辽A-T-00000", trust, data, NOW), null);
  const unseen = await answerOfflineByNumbers("辽A-SY-2026-09999", "辽A-T-00000", trust, data, NOW);
  assert.equal(unseen.answer.status.state, "unknown");
});
