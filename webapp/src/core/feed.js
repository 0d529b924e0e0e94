/**
 * Signed pages of the status feed (keys/feed.py) and how a scanner folds them (scanner/sync.py,
 * scanner/offline.py): a page is trusted only when a non-compromised feed key of the trust list signed
 * it, and only then are its entries checked and kept.
 */

import { concat, fromBase64, utf8 } from "./bytes.js";
import { canonicalJson, readJson } from "./canonical.js";
import { verifySignature } from "./algorithms.js";
import { State } from "./answer.js";
import { FeedError } from "./errors.js";
import { KeyRole, KeyState } from "./trustlist.js";
import { pyInt, pyOr, pyStr, pyTruthy } from "./pyjson.js";
import { parseIso } from "./time.js";
import { SignatureResult, judgeKey } from "./verify.js";

const DOMAIN = utf8("crane-status-feed-v1\0");
const STATES = new Set(Object.values(State));
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const refused = (message) => new FeedError(`状态数据未通过校验 / ${message}`);

/** The page of a signed feed document (text, bytes or parsed), when a trusted feed key signed it. */
export async function verifyFeedPage(doc, trust) {
  let page;
  let kid;
  let sig;
  let exact;
  try {
    const read = readJson(doc);
    ({ page, kid } = read.value);
    sig = fromBase64(read.value.sig);
    exact = read.exact;
  } catch {
    throw refused("not a signed feed page");
  }
  if (!isObject(page) || typeof kid !== "string") throw refused("not a signed feed page");
  const message = concat(DOMAIN, canonicalJson(exact("page")));
  for (const key of trust.keysFor(kid, KeyRole.FEED)) {
    if (key.state !== KeyState.COMPROMISED && (await verifySignature(key.alg, key.spki, sig, message))) {
      if (!inService(key, page.generated_at)) {
        throw refused(`feed page generated_at is outside the validity of feed key ${kid}`);
      }
      return page;
    }
  }
  throw refused(`feed page signature does not check against a trusted feed key (${kid})`);
}

/**
 * keys/feed.py _in_service: a retired or expired feed key's pages are refused from its retirement on, as an
 * issuer key's signatures are (judgeKey); a page without a readable time is left to the page check, which
 * refuses it (advanceFeed).
 */
function inService(key, generatedAt) {
  let moment = null;
  try {
    moment = typeof generatedAt === "string" ? parseIso(generatedAt) : null;
  } catch {
    moment = null;
  }
  if (moment === null) return true;
  return judgeKey(key, moment) === SignatureResult.VALID;
}

/** A feed cursor (a Redis stream id, `ms-seq`) as a sortable pair of BigInts; "0" is the start. */
export function parseCursor(cursor) {
  if (cursor === "" || cursor === "0") return [0n, 0n];
  const m = /^(\d+)(?:-(\d*))?$/.exec(cursor);
  if (!m || m[2] === "") throw new TypeError(`not a feed cursor: '${cursor}'`);
  return [BigInt(m[1]), BigInt(m[2] ?? 0)];
}

/** Negative, zero or positive as cursor a is before, at or after cursor b. */
export function compareCursors(a, b) {
  const [x, y] = [parseCursor(a), parseCursor(b)];
  return x[0] !== y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] === y[1] ? 0 : x[1] < y[1] ? -1 : 1;
}

const reprStr = (v) => (typeof v === "string" ? `'${v}'` : v === undefined || v === null ? "None" : String(v));

/**
 * scanner/sync.py's checks of a verified page asked with `since`: entries strictly after it and in order,
 * known states, `next` the last entry's cursor. Returns {entries, next, more, generatedAt}; throws FeedError.
 * `region` (a division-code prefix such as "2101", or null for the whole feed): the region the page was asked
 * for, which the signed page must name (and a page for the whole feed must name none), so a regional page
 * can never pass for the national one. A regional page holds the region's entries of the stretch read, so its
 * `next` may lie past its last entry.
 */
export function checkFeedPage(page, since, region = null) {
  const { entries, next, more } = page;
  if (pyStr(page.since ?? null) !== since) {
    throw refused(`feed page answers since=${reprStr(page.since)}, asked for '${since}'`);
  }
  if ((page.region ?? null) !== region) {
    throw refused(`feed page is for region ${reprStr(page.region ?? null)}, asked for ${reprStr(region)}`);
  }
  if (!Array.isArray(entries) || typeof next !== "string" || typeof more !== "boolean") {
    throw refused("feed page lacks entries, next or more");
  }
  try {
    let last = since;
    parseCursor(since);
    for (const entry of entries) {
      if (!isObject(entry)) throw new TypeError("an entry is not an object");
      if (!("cursor" in entry)) throw new TypeError("'cursor'");
      const cursor = pyStr(entry.cursor);
      if (compareCursors(cursor, last) <= 0) throw new TypeError(`entry ${cursor} is not after ${since}`);
      last = cursor;
      if (!STATES.has(entry.state)) throw new TypeError(`${reprStr(entry.state)} is not a valid State`);
      pyInt(entry.version);
      if (typeof entry.registration_no !== "string" || !entry.registration_no) {
        throw new TypeError("an entry has no registration number");
      }
    }
    const past = compareCursors(next, last);
    if (entries.length && (region === null ? past !== 0 : past < 0)) throw new TypeError("next is not the last entry's cursor");
  } catch (exc) {
    if (exc instanceof TypeError) throw refused(`feed page malformed: ${exc.message}`);
    throw exc;
  }
  return { entries, next, more, generatedAt: page.generated_at ?? null };
}

/** One certificate version's row as scanner/offline.py keeps it, from a feed entry. */
export function rowFromEntry(e) {
  const by = e.superseded_by;
  return Object.freeze({
    registration_no: pyStr(e.registration_no), version: pyInt(e.version), state: e.state,
    reason: pyStr(pyOr(e.reason, "")), since: pyOr(e.since, null), superseded_by: pyTruthy(by) ? pyInt(by) : null,
    record_no: pyStr(pyOr(e.record_no, "")), registered_at: pyOr(e.registered_at, null), cursor: pyStr(e.cursor),
  });
}

/** The row to keep for a (registration_no, version): an entry older than the stored row changes nothing. */
export function foldEntry(stored, entry) {
  const row = rowFromEntry(entry);
  return stored && compareCursors(row.cursor, stored.cursor) <= 0 ? stored : row;
}

function generatedMs(text, what) {
  let ms = null;
  try {
    ms = parseIso(text);
  } catch {
    ms = null;
  }
  if (ms === null) throw refused(`${what} has no readable generated_at with its time zone`);
  return ms;
}

/**
 * The stored feed position after a verified, checked page: {cursor, generatedAt}. A page that does not
 * continue from the stored cursor (behind it, or elsewhere), or whose signed generated_at is older than
 * the newest page accepted, is refused: a replayed old page cannot roll the data back.
 */
export function advanceFeed(position, page, since, region = null) {
  const checked = checkFeedPage(page, since, region);
  const cursor = position?.cursor ?? "0";
  if (since !== cursor) throw refused(`feed page continues from ${since}, the stored cursor is ${cursor}`);
  if (compareCursors(checked.next, cursor) < 0) throw refused(`feed page ends at ${checked.next}, behind the stored cursor ${cursor}`);
  const generated = generatedMs(checked.generatedAt, "feed page");
  if (position?.generatedAt && generated < generatedMs(position.generatedAt, "stored feed")) {
    throw refused(`feed page generated at ${checked.generatedAt} is older than the newest accepted page (${position.generatedAt})`);
  }
  return Object.freeze({ cursor: checked.next, generatedAt: checked.generatedAt, entries: checked.entries, more: checked.more });
}
