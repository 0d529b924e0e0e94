// Regional offline data: a phone syncs the status feed of its regions only (GET /api/v1/status-feed?region=),
// the region is inside the signed page, and a certificate outside the synced regions reads unknown offline.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FeedError, OfflineData, advanceFeed, answerOffline, loadTrustList, verifyFeedPage } from "../src/core/index.js";
import { readVector, readVectorBytes, signPage, testKey } from "./core-support.js";

const VALID = readVector("valid-ed25519.json"); // 辽A-, issuer 210100
const FEED_KEY = testKey("feed-210100-ed25519");
const NOW = Date.parse("2026-11-24T10:00:00+08:00");
const GENERATED = "2026-11-24T01:00:00+00:00";
const trustList = () => loadTrustList(readVectorBytes("trust-list.json"), VALID.root_public_key);

const entry = (cursor, registrationNo) => ({ cursor, registration_no: registrationNo, version: 1, state: "valid",
  reason: "", since: "2025-03-01T01:30:00+00:00", superseded_by: null, record_no: "",
  registered_at: "2025-03-01T02:00:00+00:00" });

const page = (entries, next, region) => ({ format: 1, since: "0", next, more: false, generated_at: GENERATED, entries,
  ...(region === undefined ? {} : { region }) });

test("a regional page must name the region asked for, and a national client takes no regional page", async () => {
  const trust = await trustList();
  const regional = await verifyFeedPage(signPage(page([entry("1-0", VALID.record.registration_no)], "3-0", "2101"), FEED_KEY), trust);
  const advanced = advanceFeed(null, regional, "0", "2101");
  assert.equal(advanced.cursor, "3-0"); // next may lie past the region's last entry: the stretch read
  assert.throws(() => advanceFeed(null, regional, "0", "2102"), FeedError);
  assert.throws(() => advanceFeed(null, regional, "0"), /region '2101', asked for None/);
  const national = await verifyFeedPage(signPage(page([entry("1-0", VALID.record.registration_no)], "1-0"), FEED_KEY), trust);
  assert.throws(() => advanceFeed(null, national, "0", "2101"), FeedError);
  const skipping = await verifyFeedPage(signPage(page([entry("1-0", VALID.record.registration_no)], "3-0"), FEED_KEY), trust);
  assert.throws(() => advanceFeed(null, skipping, "0"), /next is not the last entry's cursor/);
  const behind = await verifyFeedPage(signPage(page([entry("2-0", VALID.record.registration_no)], "1-0", "2101"), FEED_KEY), trust);
  assert.throws(() => advanceFeed(null, behind, "0", "2101"), FeedError);
});

test("a certificate outside the synced regions reads unknown offline, never a guess", async () => {
  const trust = await trustList();
  const data = OfflineData.empty();
  data.apply(await verifyFeedPage(signPage(page([entry("1-0", VALID.record.registration_no)], "1-0"), FEED_KEY), trust), "0");
  const as = (regions) => ({ dataTime: data.dataTime, get: (r, v) => data.get(r, v), latest: (r) => data.latest(r), regions });
  for (const regions of [undefined, ["2101"], ["21"], ["2102", "210100"]]) {
    const { answer } = await answerOffline(VALID.qr_text, trust, as(regions), NOW);
    assert.equal(answer.status.state, "valid", String(regions));
  }
  for (const regions of [["2102"], [], ["22"]]) {
    const { answer } = await answerOffline(VALID.qr_text, trust, as(regions), NOW);
    assert.equal(answer.status.state, "unknown", String(regions));
    assert.equal(answer.verdict.ok, false);
    assert.match(answer.status.reason, /不在本机已同步的地区/);
  }
});
