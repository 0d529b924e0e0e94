/**
 * Stages `unprefix` and `base32` of keys/payload.py: the QR text (an uppercase URL or a bare payload)
 * to the COSE bytes. One byte string has exactly one accepted base32 spelling.
 */

import { Malformed } from "./errors.js";

export const MAX_TEXT = 2048;

// Python's str.strip() and the regex \s strip exactly the characters for which str.isspace() holds;
// JavaScript's \s is another set (it has U+FEFF, lacks U+001C-U+001F and U+0085), so it is spelled out.
export const PY_SPACE = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");
// (?i:https?) in Python also matches U+017F (long s), which folds to "s".
const URL_RE = new RegExp(`^[hH][tT][tT][pP][sS\\u017f]?://[^/?#${PY_SPACE}]{1,253}/[Vv]/([A-Z2-7]+)$`, "u");
const BARE_RE = /^[A-Z2-7]{16,}$/;

/** len(text) as Python counts it: characters (code points), not UTF-16 units. */
export function textLength(text) {
  if (text.length <= MAX_TEXT) return text.length; // never fewer UTF-16 units than characters: enough to compare
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) i++;
    }
    n++;
  }
  return n;
}

/** The base32 payload of a QR URL or of a bare payload (keys.payload.unprefix). */
export function unprefix(text) {
  if (typeof text !== "string") throw new Malformed("QR text is not text");
  if (textLength(text) > MAX_TEXT) {
    throw new Malformed(`QR text longer than ${MAX_TEXT} characters`);
  }
  const stripped = text.replace(STRIP, "");
  const match = URL_RE.exec(stripped);
  if (match) return match[1];
  if (BARE_RE.test(stripped)) return stripped;
  throw new Malformed("not a crane certificate URL or payload");
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Strict base32: RFC 4648 alphabet, no padding, the one canonical spelling (keys.payload.b32decode). */
export function b32decode(payload) {
  if (![0, 2, 4, 5, 7].includes(payload.length % 8)) throw new Malformed("base32 payload has an impossible length");
  const out = new Uint8Array(Math.floor((payload.length * 5) / 8));
  let value = 0;
  let bits = 0;
  let at = 0;
  for (const c of payload) {
    const v = VALUE.get(c);
    if (v === undefined) throw new Malformed("payload is not base32");
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  if (value & ((1 << bits) - 1)) throw new Malformed("base32 payload has non-zero trailing bits");
  return out;
}

/** Base32 without padding (keys.payload.pack); used by tests and by the app to show a payload. */
export function b32encode(bytes) {
  let out = "";
  let value = 0;
  let bits = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(value >> bits) & 31];
    }
  }
  if (bits) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}
