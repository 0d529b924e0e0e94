/**
 * Canonical JSON as keys/trustlist.py writes it for signing: json.dumps(value, sort_keys=True,
 * separators=(",", ":"), ensure_ascii=False) encoded as UTF-8. Keys sort by code point, as Python
 * sorts text; strings escape exactly as JSON.stringify does (the same set, lowercase \u00xx).
 *
 * A signed document read from its text is written again from the text's own tokens, so a number keeps
 * what Python's json.loads keeps of it (an integer of any size; a float such as 1.0 stays a float) and
 * NaN and Infinity are read as Python reads them. A document already parsed into JavaScript values has
 * lost that: integral numbers are written as integers.
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
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, exp] = x.toExponential().split("e");
  const e = Number(exp);
  const sign = x < 0 ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  if (e >= -4 && e < 16) {
    if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
    const whole = digits.slice(0, e + 1).padEnd(e + 1, "0");
    const frac = digits.slice(e + 1);
    return `${sign}${whole}.${frac || "0"}`;
  }
  return `${mantissa}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
}

/** A JSON number token as Python's json.loads then json.dumps write it again. */
function pyNumber(token) {
  if (/^-?\d+$/.test(token)) return BigInt(token).toString();
  return pyFloat(Number(token));
}

const writeKey = (k) => JSON.stringify(k);

function write(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return Number.isInteger(value) && Math.abs(value) < 1e16 ? String(value) : pyFloat(value);
  if (value instanceof Token) return value.text;
  if (Array.isArray(value)) return `[${value.map(write).join(",")}]`;
  if (value instanceof Map) {
    const keys = [...value.keys()].sort(byCodePoint);
    return `{${keys.map((k) => `${writeKey(k)}:${write(value.get(k))}`).join(",")}}`;
  }
  if (typeof value === "object") {
    const keys = Object.keys(value).sort(byCodePoint);
    return `{${keys.map((k) => `${writeKey(k)}:${write(value[k])}`).join(",")}}`;
  }
  throw new TypeError(`cannot write ${typeof value} as JSON`);
}

/** The canonical bytes of a JSON value (plain JavaScript values, or a tree from readExact). */
export const canonicalJson = (value) => utf8(write(value));

/** A number as written in the document, already in Python's form. */
class Token {
  constructor(text) {
    this.text = text;
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS = [["true", true], ["false", false], ["null", null], ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity]];

/**
 * The document's tree with every number kept as Python reads it (objects as Maps, later duplicates win,
 * as in json.loads). Only for writing canonical bytes; the values themselves come from JSON.parse.
 */
function readExact(text) {
  let at = 0;
  const space = () => {
    while (at < text.length && " \t\n\r".includes(text[at])) at++;
  };
  const fail = () => {
    throw new SyntaxError(`JSON: unexpected input at ${at}`);
  };
  const string = () => {
    const start = at;
    for (at++; at < text.length && text[at] !== '"'; at++) if (text[at] === "\\") at++;
    if (at >= text.length) fail();
    at++;
    return JSON.parse(text.slice(start, at));
  };
  const value = () => {
    space();
    const c = text[at];
    if (c === '"') return string();
    if (c === "{") {
      const out = new Map();
      at++;
      space();
      if (text[at] === "}") return at++, out;
      for (;;) {
        space();
        if (text[at] !== '"') fail();
        const key = string();
        space();
        if (text[at++] !== ":") fail();
        out.delete(key);
        out.set(key, value());
        space();
        if (text[at] === ",") at++;
        else if (text[at++] === "}") return out;
        else fail();
      }
    }
    if (c === "[") {
      const out = [];
      at++;
      space();
      if (text[at] === "]") return at++, out;
      for (;;) {
        out.push(value());
        space();
        if (text[at] === ",") at++;
        else if (text[at++] === "]") return out;
        else fail();
      }
    }
    for (const [word, literal] of LITERALS) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return typeof literal === "number" ? new Token(pyFloat(literal)) : literal;
      }
    }
    NUMBER.lastIndex = at;
    const m = NUMBER.exec(text);
    if (!m) fail();
    at += m[0].length;
    return new Token(pyNumber(m[0]));
  };
  const tree = value();
  space();
  if (at !== text.length) fail();
  return tree;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function asText(doc) {
  if (typeof doc === "string") return doc;
  const text = decoder.decode(doc);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // json.loads(bytes) allows a UTF-8 BOM
}

/** The plain JavaScript value of a tree from readExact. */
function plain(node) {
  if (node instanceof Token) return Number(node.text);
  if (Array.isArray(node)) return node.map(plain);
  if (node instanceof Map) return Object.fromEntries([...node].map(([k, v]) => [k, plain(v)]));
  return node;
}

/**
 * A JSON document from text, bytes or an already parsed value: {value, exact}, where `exact(member)`
 * gives a top-level member as canonicalJson must write it (from the text's own tokens when there is
 * text). Throws on anything json.loads would refuse.
 */
export function readJson(doc) {
  if (typeof doc !== "string" && !(doc instanceof Uint8Array) && !(doc instanceof ArrayBuffer)) {
    return { value: doc, exact: (member) => doc?.[member] };
  }
  const tree = readExact(asText(doc instanceof ArrayBuffer ? new Uint8Array(doc) : doc));
  return { value: plain(tree), exact: (member) => (tree instanceof Map ? tree.get(member) : undefined) };
}
