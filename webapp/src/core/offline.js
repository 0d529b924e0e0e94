/**
 * Verdicts from synced data alone, as scanner/offline.py gives them: the signature checked against the
 * synced trust list, the status from the rows folded from the signed feed, marked `offline` with the
 * data time. What the data cannot vouch for (a certificate it has never seen, data older than the allowed
 * age, an e-licence identifier) is `unknown`, never a guess. The data time is the signed `generated_at`
 * of the newest accepted feed page, so neither a device clock nor a slow sync can make data look fresher.
 */

import { Source, State } from "./answer.js";
import { advanceFeed, foldEntry } from "./feed.js";
import { PY_SPACE } from "./qrtext.js";
import { ownsNumber } from "./trustlist.js";
import { china, DAY_MS, parseIso, toMs } from "./time.js";
import { answerCode, answerEntry, sameRecordNo, unavailable } from "./verdict.js";

export const DEFAULT_MAX_AGE_MS = 7 * DAY_MS;
const MAX_NUMBER = 64; // characters of a registration or record number; longer is no number of ours

export const NOT_IN_DATA = "离线数据中无此证书（数据截至 {t}） / not in offline data as of {t}";
export const TOO_OLD = "离线数据已过期（数据截至 {t}，超过允许的 {d}） / offline data as of {t} is older than the allowed {d}";
export const OUTSIDE_REGIONS = "此证书不在本机已同步的地区（{r}），离线无法确认状态，请联网核验 / this certificate is outside the " +
  "regions synced to this device ({r}): its status cannot be told offline";
export const BY_LICENCE = "离线数据无法按电子证照标识查询，请联网核验 / an e-licence identifier can only be looked up online";
export const CLOCK_BEHIND = "设备时钟早于上次同步时间（{t}），请校准时间 / the device clock is earlier than the last sync ({t}); " +
  "check the clock";
export const NO_DATA = "尚无离线数据，请联网同步 / no offline data yet; sync while online";

const fill = (template, values) => template.replace(/\{(\w)\}/g, (_, k) => values[k]);

/** scanner/offline.py human_duration: 7 天 / 7 d. */
export function humanDuration(ms) {
  const seconds = Math.trunc(ms / 1000);
  if (seconds % 86400 === 0) return `${seconds / 86400} 天 / ${seconds / 86400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} 小时 / ${seconds / 3600} h`;
  return `${seconds} 秒 / ${seconds} s`;
}

const rowKey = (registrationNo, version) => `${registrationNo}\u0000${version}`;

/**
 * The folded state of the signed feed in memory: the feed position {cursor, generatedAt} and one row per
 * certificate version. The app keeps the same rows in IndexedDB and can use feed.js's advanceFeed and
 * foldEntry directly; anything with dataTime, get(registrationNo, version) and latest(registrationNo)
 * (plain or async) serves as a source for the offline answers.
 */
export class OfflineData {
  constructor({ cursor = "0", generatedAt = null, rows = [] } = {}) {
    this.position = { cursor, generatedAt };
    this._rows = new Map(rows.map((r) => [rowKey(r.registration_no, r.version), Object.freeze({ ...r })]));
  }

  static empty() {
    return new OfflineData();
  }

  static fromJSON(json) {
    return new OfflineData(json);
  }

  toJSON() {
    return { format: 1, ...this.position, rows: [...this._rows.values()] };
  }

  get cursor() {
    return this.position.cursor;
  }

  get generatedAt() {
    return this.position.generatedAt;
  }

  /** The data time: the signed generated_at of the newest accepted page, as epoch ms; null before any. */
  get dataTime() {
    return this.position.generatedAt ? parseIso(this.position.generatedAt) : null;
  }

  get count() {
    return this._rows.size;
  }

  rows() {
    return this._rows.values();
  }

  /** Ms since the data time; negative when the device clock is behind the data. */
  age(now) {
    const dataTime = this.dataTime;
    return dataTime === null ? null : toMs(now) - dataTime;
  }

  /** Fold a page verified with verifyFeedPage and asked with `since`; all checks pass before anything changes. */
  apply(page, since) {
    const advanced = advanceFeed(this.position, page, since);
    for (const entry of advanced.entries) {
      const key = rowKey(String(entry.registration_no), Number(entry.version));
      this._rows.set(key, foldEntry(this._rows.get(key) ?? null, entry));
    }
    this.position = { cursor: advanced.cursor, generatedAt: advanced.generatedAt };
    return advanced;
  }

  get(registrationNo, version) {
    return this._rows.get(rowKey(registrationNo, version)) ?? null;
  }

  /** The latest version of a registration number. */
  latest(registrationNo) {
    let best = null;
    for (const row of this._rows.values()) {
      if (row.registration_no === registrationNo && (!best || row.version > best.version)) best = row;
    }
    return best;
  }
}

const DASHES = /[\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d]/g;
const SPACES = new RegExp(`[${PY_SPACE}]+`, "g");

/** What people type on a phone: full-width letters, other dashes, spaces, lower case (verify_api/checks.py). */
export function normaliseNumber(text) {
  return text.normalize("NFKC").replace(DASHES, "-").replace(SPACES, "").toUpperCase();
}

function entryOf(row) {
  return Object.freeze({
    registrationNo: row.registration_no, version: row.version, state: row.state, match: sameRecordNo(row.record_no),
    reason: row.reason, since: row.since, supersededBy: row.superseded_by, registeredAt: row.registered_at,
    issuer: null, certificate: null,
  });
}

/** The synced data as a registry for verdict.js, at `now`, with the allowed age. */
export function offlineRegistry(source, now, maxAgeMs = DEFAULT_MAX_AGE_MS, trust = null) {
  const dataTime = source.dataTime;
  const nowMs = toMs(now);
  const t = dataTime === null ? "-" : china(dataTime);
  const tooOld = dataTime !== null && nowMs - dataTime > maxAgeMs;
  const covered = coverage(source.regions ?? null, trust);
  const check = (registrationNo) => {
    if (dataTime === null) return unavailable(NO_DATA);
    if (tooOld) return unavailable(fill(TOO_OLD, { t, d: humanDuration(maxAgeMs) }));
    if (!covered(registrationNo)) return unavailable(fill(OUTSIDE_REGIONS, { r: source.regions.join(", ") }));
    return null;
  };
  return Object.freeze({
    provenance: Object.freeze({ source: Source.OFFLINE, dataTime }),
    async entry(registrationNo, version) {
      const refusal = check(registrationNo);
      if (refusal) return refusal;
      const row = await source.get(registrationNo, version);
      return row ? entryOf(row) : unavailable(fill(NOT_IN_DATA, { t }));
    },
    async byLicence() {
      return unavailable(BY_LICENCE);
    },
    /** The latest version when both numbers match (checks.find_by_numbers); unavailable or null otherwise. */
    async byNumbers(registrationNo, recordNo) {
      const refusal = check(normaliseNumber(registrationNo.trim()));
      if (refusal) return refusal;
      const [reg, rec] = [registrationNo.trim(), recordNo.trim()];
      if (!reg || !rec || Math.max(reg.length, rec.length) > MAX_NUMBER) return null;
      let row = await source.latest(reg);
      if (!row && normaliseNumber(reg) !== reg) row = await source.latest(normaliseNumber(reg));
      if (!row) return unavailable(fill(NOT_IN_DATA, { t }));
      return normaliseNumber(row.record_no || "") === normaliseNumber(rec) ? entryOf(row) : null;
    },
  });
}

/**
 * Whether the synced data covers a registration number. Data of regions (division-code prefixes, as the
 * status feed's `region` selects them) covers the numbers that an issuer whose code starts with one of them
 * owns; anything else reads unknown, never a guess from rows of a region no longer synced. Data of the whole
 * feed (regions null) covers every number.
 */
function coverage(regions, trust) {
  if (regions === null) return () => true;
  const issuers = trust ? trust.issuers.filter((i) => regions.some((r) => i.code.startsWith(r))) : [];
  return (registrationNo) => issuers.some((i) => ownsNumber(i, registrationNo));
}

function checked(answer, verification, source, nowMs) {
  const dataTime = source.dataTime;
  const age = dataTime === null ? null : nowMs - dataTime;
  const clockBehind = age !== null && age < 0;
  const notes = clockBehind ? [fill(CLOCK_BEHIND, { t: china(dataTime) })] : [];
  return Object.freeze({
    answer, verification, mode: "offline", ageSeconds: age === null ? null : Math.trunc(age / 1000),
    notes: Object.freeze(notes), clockBehind,
  });
}

/** The offline answer for a scanned text: {answer, verification, mode, ageSeconds, notes, clockBehind}. */
export async function answerOffline(text, trust, source, now, { maxAgeMs = DEFAULT_MAX_AGE_MS } = {}) {
  const nowMs = toMs(now);
  const { answer, verification } = await answerCode(text, trust, offlineRegistry(source, nowMs, maxAgeMs, trust), nowMs);
  return checked(answer, verification, source, nowMs);
}

/**
 * The offline answer for the two numbers typed in (paper certificates too): the certificate's synced
 * state with no signature to check; `unknown` when the data cannot say; null when the numbers do not
 * belong together (as the service's 404).
 */
export async function answerOfflineByNumbers(registrationNo, recordNo, trust, source, now,
  { maxAgeMs = DEFAULT_MAX_AGE_MS } = {}) {
  const nowMs = toMs(now);
  const registry = offlineRegistry(source, nowMs, maxAgeMs, trust);
  const found = await registry.byNumbers(registrationNo, recordNo);
  if (found === null) return null;
  const answer = "unavailable" in found
    ? await answerEntry({ registrationNo, version: null, state: State.UNKNOWN, match: sameRecordNo(""),
      reason: found.unavailable }, trust, nowMs, registry.provenance)
    : await answerEntry(found, trust, nowMs, registry.provenance);
  return checked(answer, null, source, nowMs);
}
