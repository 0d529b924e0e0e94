/**
 * Canonical JSON as keys/trustlist.py writes it for signing: json.dumps(value, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False) encoded as UTF-8. Keys sort by code point, as Python
 * sorts text; strings escape exactly as JSON.stringify does (the same set, lowercase \u00xx).
 *
 * A parsed document has lost what JSON.parse forgets: a float written with an integral value ("1.0")
 * comes back as an integer, and integers past 2**53 lose digits. Our documents carry neither; such a
 * document would fail its signature here where Python accepts it.
 */

import { utf8 } from "./bytes.js";

const byCodePoint = (a, b) => {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d) return d;
  }
  return x.length - y.length;
};

/** Python's repr of a float, which json.dumps writes: shortest round trip, exponent outside 1e-4..1e16. */
function pyFloat(x) {
  if (!Number.isFinite(x)) throw new TypeError("JSON has no NaN or Infinity");
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return String(x);
  const [mantissa, exp] = x.toExponential().split("e");
  const e = Number(exp);
  if (e >= -4 && e < 16) {
    const digits = mantissa.replace("-", "").replace(".", "");
    const sign = x < 0 ? "-" : "";
    if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
    const whole = digits.slice(0, e + 1).padEnd(e + 1, "0");
    const frac = digits.slice(e + 1);
    return `${sign}${whole}${frac ? "." + frac : ".0"}`;
  }
  return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

function write(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return pyFloat(value);
  if (Array.isArray(value)) return `[${value.map(write).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort(byCodePoint);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${write(value[k])}`).join(",")}}`;
  }
  throw new TypeError(`cannot write ${typeof value} as JSON`);
}

export const canonicalJson = (value) => utf8(write(value));

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A JSON document from text, bytes or an already parsed value. Throws on anything else. */
export function readJson(doc) {
  if (typeof doc === "string") return JSON.parse(doc);
  if (doc instanceof Uint8Array || doc instanceof ArrayBuffer) {
    const text = decoder.decode(doc);
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  }
  return doc;
}
