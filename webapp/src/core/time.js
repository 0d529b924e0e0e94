/**
 * Times as keys/ reads and writes them. Moments are epoch milliseconds (a fraction keeps microseconds,
 * so comparisons with whole-second signing times come out as Python's do).
 */

export const SECOND_MS = 1000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
const CHINA_OFFSET_MS = 8 * HOUR_MS;

/** `now` as epoch ms, from a Date or a number. */
export function toMs(now) {
  const ms = now instanceof Date ? now.getTime() : now;
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new TypeError("now must be a Date or epoch milliseconds");
  return ms;
}

// The extended forms datetime.fromisoformat (Python 3.11) reads from our files: date, any one separator,
// hh[:mm[:ss[.fraction]]], and an offset Z or +hh[:mm[:ss[.ffffff]]].
const ISO_RE = new RegExp(
  "^(\\d{4})-(\\d{2})-(\\d{2})(?:.(\\d{2})(?::(\\d{2})(?::(\\d{2})(?:[.,](\\d{1,6}))?)?)?" +
  "(?:(Z)|([+-])(\\d{2})(?::?(\\d{2})(?::?(\\d{2})(?:\\.(\\d{1,6}))?)?)?)?)?$", "u");

/** An ISO 8601 time with its UTC offset, as epoch ms; null for a time without offset; throws on garbage. */
export function parseIso(text) {
  const m = typeof text === "string" ? ISO_RE.exec(text) : null;
  if (!m) throw new TypeError(`Invalid isoformat string: ${JSON.stringify(text)}`);
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", z, sign, oh, om = "0", os = "0", ofrac = ""] = m;
  const fields = [+y, +mo, +d, +h, +mi, +s];
  if (fields[0] < 1 || fields[2] < 1 || fields[2] > daysIn(fields[0], fields[1]) ||
      fields[3] > 23 || fields[4] > 59 || fields[5] > 59 || +oh > 23 || +om > 59 || +os > 59) {
    throw new TypeError(`Invalid isoformat string: ${JSON.stringify(text)}`);
  }
  if (!z && !sign) return null;
  const moment = new Date(0);
  moment.setUTCFullYear(fields[0], fields[1] - 1, fields[2]); // unlike Date.UTC, years 1-99 stay themselves
  moment.setUTCHours(fields[3], fields[4], fields[5], 0);
  const utc = moment.getTime() + Number((frac + "000000").slice(0, 6)) / 1000;
  const offset = sign ? (sign === "-" ? -1 : 1) *
    (+oh * HOUR_MS + +om * 60_000 + +os * 1000 + Number((ofrac + "000000").slice(0, 6)) / 1000) : 0;
  return utc - offset;
}

function daysIn(year, month) {
  if (month < 1 || month > 12) return 0;
  return [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

function pieces(ms, offsetMs) {
  const d = new Date(Math.floor(ms / 1000) * 1000 + offsetMs);
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z for years 0-9999
  return { date: iso.slice(0, 10), time: iso.slice(11, 19) };
}

/** datetime.isoformat() of a whole-second UTC time: 2025-03-01T01:30:00+00:00. */
export function isoUtc(ms) {
  const p = pieces(ms, 0);
  return `${p.date}T${p.time}+00:00`;
}

/** date.isoformat(): 2025-02-26. */
export function isoDate(ms) {
  return pieces(ms, 0).date;
}

/** Times in answers read in China time, to the second (keys.answer._iso). */
export function isoChina(ms) {
  if (ms === null || ms === undefined) return null;
  const p = pieces(ms, CHINA_OFFSET_MS);
  return `${p.date}T${p.time}+08:00`;
}

/** China time to the minute, as scanner/offline.py shows a data time: 2026-11-24 18:45. */
export function china(ms) {
  const p = pieces(ms, CHINA_OFFSET_MS);
  return `${p.date} ${p.time.slice(0, 5)}`;
}

/** datetime.fromisoformat(text).isoformat(timespec="seconds"): the moment to the second, its offset kept. */
export function isoSeconds(text) {
  parseIso(text); // the same refusals as Python's fromisoformat
  const m = ISO_RE.exec(text);
  const [, y, mo, d, h = "00", mi = "00", s = "00", , z, sign, oh, om = "00", os = "00"] = m;
  const offset = z ? "+00:00" : sign ? `${sign}${oh}:${om}${os !== "00" ? ":" + os : ""}` : "";
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${offset}`;
}
