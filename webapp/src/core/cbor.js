/**
 * A strict reader for the small CBOR subset our payload uses, ported from keys/cbor.py: it refuses
 * duplicate map keys, indefinite lengths, non-shortest lengths, floats, unknown tags, trailing bytes
 * and nesting deeper than a fixed limit. Every refusal is a CborError.
 *
 * Values: integers as numbers when safe, else BigInt (so equal integers have one representation);
 * byte strings as Uint8Array; text as string; arrays; maps as Map; false, true, null; Tagged.
 */

import { fromUtf8 } from "./bytes.js";
import { Malformed } from "./errors.js";

export const MAX_DEPTH = 8;
export const PAYLOAD_DEPTH = 6; // keys/payload.py MAX_DEPTH: each parsed item of a payload is held to it
export const COSE_SIGN1_TAG = 18;

export class CborError extends Error {}

export class Tagged {
  constructor(tag, value) {
    this.tag = tag;
    this.value = value;
    Object.freeze(this);
  }
}

export const isInt = (v) => (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";

function normalise(big) {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

export function loads(data, maxDepth = MAX_DEPTH, allowedTags = new Set()) {
  const reader = new Reader(data, maxDepth, allowedTags);
  const value = reader.item(0);
  if (reader.pos !== data.length) throw new CborError(`${data.length - reader.pos} bytes after the CBOR item`);
  return value;
}

class Reader {
  constructor(data, maxDepth, allowedTags) {
    this.data = data;
    this.pos = 0;
    this.maxDepth = maxDepth;
    this.allowedTags = allowedTags;
  }

  take(n) {
    if (n > this.data.length - this.pos) throw new CborError("CBOR item runs past the end of the data");
    const chunk = this.data.subarray(this.pos, this.pos + Number(n));
    this.pos += Number(n);
    return chunk;
  }

  head() {
    const initial = this.take(1)[0];
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info < 24) return [major, info];
    if (info > 27) throw new CborError("indefinite lengths and reserved values are not accepted");
    if (major === 7) throw new CborError("floats and other simple values are not accepted");
    const size = 1 << (info - 24);
    let value = 0n;
    for (const b of this.take(size)) value = (value << 8n) | BigInt(b);
    if (value < (size === 1 ? 24n : 1n << BigInt(4 * size))) {
      throw new CborError("a CBOR length or integer is not in its shortest form");
    }
    return [major, normalise(value)];
  }

  item(depth) {
    if (depth > this.maxDepth) throw new CborError(`CBOR nested deeper than ${this.maxDepth}`);
    const [major, arg] = this.head();
    switch (major) {
      case 0:
        return arg;
      case 1:
        return normalise(-1n - BigInt(arg));
      case 2:
        return this.take(arg).slice();
      case 3:
        try {
          return fromUtf8(this.take(arg));
        } catch (exc) {
          if (exc instanceof CborError) throw exc;
          throw new CborError("text string is not valid UTF-8");
        }
      case 4: {
        this.plausible(arg);
        const out = [];
        for (let i = 0; i < arg; i++) out.push(this.item(depth + 1));
        return out;
      }
      case 5: {
        this.plausible(2 * Number(arg));
        const out = new Map();
        for (let i = 0; i < arg; i++) {
          const key = this.item(depth + 1);
          if (!isInt(key) && typeof key !== "string") throw new CborError("map keys must be integers or text");
          if (out.has(key)) throw new CborError(`duplicate map key ${pyRepr(key)}`);
          out.set(key, this.item(depth + 1));
        }
        return out;
      }
      case 6: {
        if (!this.allowedTags.has(arg)) throw new CborError(`CBOR tag ${arg} is not accepted here`);
        return new Tagged(arg, this.item(depth + 1));
      }
      default:
        return simple(arg);
    }
  }

  plausible(count) {
    // Every element needs at least one byte: refuse a count the data cannot hold before allocating.
    if (count > this.data.length - this.pos) throw new CborError("CBOR container is longer than the data");
  }
}

function simple(arg) {
  if (arg === 20) return false;
  if (arg === 21) return true;
  if (arg === 22) return null;
  throw new CborError("floats and other simple values are not accepted");
}

/** Python's repr of a map key, so a refusal reads as keys/cbor.py words it. */
function pyRepr(key) {
  if (typeof key !== "string") return String(key);
  const quote = key.includes("'") && !key.includes('"') ? '"' : "'";
  const escaped = key.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
}

/** One CBOR item of a payload (COSE, protected header, claims), refused as Malformed "<what>: <why>". */
export function loadPayloadItem(data, what, allowedTags) {
  try {
    return loads(data, PAYLOAD_DEPTH, allowedTags);
  } catch (exc) {
    if (exc instanceof CborError) throw new Malformed(`${what}: ${exc.message}`);
    throw exc;
  }
}
