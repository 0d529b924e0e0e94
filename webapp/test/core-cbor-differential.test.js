// Differential at the byte level, where a signature no longer shields the reader: random CBOR, strict
// and loose, shaped like COSE structures and claims maps, through keys/ (Python) and the JavaScript
// stages. Same refusal with the same reason, or the same decoded fields.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { Deflate } from "pako";

import { concat, fromHex, toHex, utf8 } from "../src/core/bytes.js";
import { certificateJson, readClaims } from "../src/core/claims.js";
import { parseCose } from "../src/core/cose.js";
import { ZDICT } from "../src/core/zdict.js";
import { VECTORS, prng } from "./core-support.js";

const REPO = join(VECTORS, "..", "..");
const PYTHON = join(REPO, ".venv", "bin", "python");

const REFERENCE = `
import json, sys
from keys.payload import Claims, Malformed, parse_cose
out = []
for kind, data in json.load(sys.stdin):
    try:
        if kind == "cose":
            e = parse_cose(bytes.fromhex(data))
            out.append({"ok": [str(e.alg_id), e.kid,
                               e.protected.hex(), e.payload.hex(), e.signature.hex()]})
        else:
            c = Claims.from_cbor(bytes.fromhex(data))
            out.append({"ok": [c.certificate(None), c.licence_serial, c.licence_id_full]})
    except Malformed as exc:
        out.append({"err": str(exc)})
json.dump(out, sys.stdout, ensure_ascii=False)
`;

// --- a CBOR writer that can also write what a strict reader must refuse ---------------------------

function head(major, value, r, loose) {
  const v = BigInt(value);
  const sizes = v < 24n ? [0, 1, 2, 4, 8] : v < 0x100n ? [1, 2, 4, 8] : v < 0x10000n ? [2, 4, 8] : v < 0x100000000n ? [4, 8] : [8];
  const size = loose && r() < 0.1 ? sizes[Math.floor(r() * sizes.length)] : sizes[0];
  if (size === 0) return Uint8Array.of((major << 5) | Number(v));
  const info = { 1: 24, 2: 25, 4: 26, 8: 27 }[size];
  const bytes = new Uint8Array(size + 1);
  bytes[0] = (major << 5) | info;
  for (let i = 0; i < size; i++) bytes[size - i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return bytes;
}

function encode(item, r, loose) {
  if (item instanceof Uint8Array) return concat(head(2, item.length, r, loose), item);
  if (typeof item === "string") return concat(head(3, utf8(item).length, r, loose), utf8(item));
  if (typeof item === "number" || typeof item === "bigint") {
    const v = BigInt(item);
    return v >= 0n ? head(0, v, r, loose) : head(1, -1n - v, r, loose);
  }
  if (item === false || item === true || item === null) return Uint8Array.of(item === false ? 0xf4 : item === true ? 0xf5 : 0xf6);
  if (item.raw) return item.raw;
  if (item.tag !== undefined) return concat(head(6, item.tag, r, loose), encode(item.value, r, loose));
  if (Array.isArray(item)) return concat(head(4, item.length, r, loose), ...item.map((x) => encode(x, r, loose)));
  return concat(head(5, item.entries.length, r, loose), ...item.entries.flatMap(([k, v]) => [encode(k, r, loose), encode(v, r, loose)]));
}

const map = (entries) => ({ entries });
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];

function randomScalar(r) {
  return pick(r, [
    () => Math.floor(r() * 30), () => -Math.floor(r() * 30), () => 2n ** 64n - 1n, () => -(2n ** 64n), () => 2 ** 40,
    () => pick(r, ["", "QTZ80(TC6010-6)", "沈阳", "a\u0000b", "210100", "1.2.156.3005.2.11100000000013338W999.11210100000000000J.20250000457.001.5"]),
    () => utf8("辽A-SY-2025-00456"), () => Uint8Array.of(0xff, 0xfe), () => new Uint8Array(8), () => pick(r, [true, false, null]),
    () => ({ raw: pick(r, [Uint8Array.of(0xf9, 0, 0), Uint8Array.of(0xf7), Uint8Array.of(0x5f, 0x41, 0, 0xff), Uint8Array.of(0x9f, 0xff), Uint8Array.of(0xe0)]) }),
  ])();
}

function randomItem(r, depth) {
  if (depth > 7 || r() < 0.5) return randomScalar(r);
  if (r() < 0.15) return { tag: pick(r, [18, 0, 24, 55799]), value: randomItem(r, depth + 1) };
  if (r() < 0.5) return Array.from({ length: Math.floor(r() * 4) }, () => randomItem(r, depth + 1));
  return map(Array.from({ length: Math.floor(r() * 4) }, () => [pick(r, [1, 4, -1, "a", true]), randomItem(r, depth + 1)]));
}

function claimsMap(r) {
  if (r() < 0.4) return cleanClaims(r);
  const cert = [[1, pick(r, [1, 999, 0, 1000, 2n ** 64n - 1n, -1, "1"])], [4, pick(r, [20000, 2932896, 2932897, -719162, -719163, 2n ** 63n])],
    [5, pick(r, [1, 2, 3, 4, 0, 5, true])], [6, "QTZ80(TC6010-6)"], [7, "辽A-T-00123"], [8, "2022-7826"], [9, "中建三局"],
    [10, "沈阳保利项目"], [11, pick(r, ["", "2#楼"])], [2, pick(r, ["20250000457", "abc", "", "A".repeat(33)])],
    [3, "1.2.156.3005.2.11100000000013338W999.11210100000000000J.20250000457.001.5"]];
  const top = [[1, pick(r, ["210100", 210100])], [6, pick(r, [1740792600, -62135596800, -62135596801, 253402300799, 253402300800, 2n ** 64n - 1n, -1])],
    [7, pick(r, [utf8("辽A-SY-2025-00456"), Uint8Array.of(0xc3, 0x28), "text"])], [-65537, null]];
  const keep = (entries) => entries.filter(() => r() > 0.08).map(([k, v]) => [k, r() < 0.08 ? randomScalar(r) : v]);
  const certEntries = keep(cert);
  if (r() < 0.1 && certEntries.length) certEntries.push(certEntries[0]); // a duplicate key
  if (r() < 0.1) certEntries.push([pick(r, [12, "x", -3]), randomItem(r, 2)]);
  const topEntries = keep(top).map(([k, v]) => [k, k === -65537 ? (r() < 0.9 ? map(certEntries) : randomItem(r, 1)) : v]);
  return map(topEntries);
}

/** A claims map an issuer could write, with a few fields chosen at random. */
function cleanClaims(r) {
  const cert = [[1, pick(r, [1, 2, 999])], [4, pick(r, [20000, 20500, 0])], [5, pick(r, [1, 2, 3, 4])], [6, pick(r, ["QTZ80(TC6010-6)", "SC200/200"])],
    [7, "辽A-T-00123"], [8, "2022-7826"], [9, "中建三局集团有限公司"], [10, "沈阳保利项目"]];
  if (r() < 0.5) cert.push([11, "2#楼与3#楼之间"]);
  const id = r();
  if (id < 0.4) cert.push([2, "20250000457"]);
  else if (id < 0.8) cert.push([3, "1.2.156.3005.2.11100000000013338W999.11210100000000000J.20250000457.001.5"]);
  return map([[1, pick(r, ["210100", "210200"])], [6, 1740792600 + Math.floor(r() * 1e6)], [7, utf8("辽A-SY-2025-00456")], [-65537, map(cert)]]);
}

function deflated(bytes, r) {
  const d = new Deflate({ level: 9, dictionary: ZDICT });
  d.push(bytes, true);
  const out = d.result.slice();
  const roll = r();
  if (roll < 0.05) out[Math.floor(r() * out.length)] ^= 1 << Math.floor(r() * 8);
  if (roll > 0.95) return roll > 0.975 ? concat(out, Uint8Array.of(0)) : out.subarray(0, out.length - 1 - Math.floor(r() * 4));
  return out;
}

function cases(count, seed) {
  const r = prng(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const loose = r() < 0.2;
    if (i % 2) {
      const claims = encode(claimsMap(r), r, loose);
      out.push(["claims", toHex(r() < 0.5 ? deflated(claims, r) : claims)]);
    } else {
      const header = r() < 0.8 ? map([[1, pick(r, [-8, -7, -65601, 2n ** 64n - 1n, true, "EdDSA"])], [4, pick(r, [new Uint8Array(8), new Uint8Array(7), "kid"])]]) : randomItem(r, 0);
      const parts = [encode(header, r, loose), r() < 0.9 ? map([]) : randomItem(r, 1), new Uint8Array(5), new Uint8Array(64)];
      const cose = r() < 0.85 ? { tag: 18, value: r() < 0.9 ? parts : randomItem(r, 1) } : randomItem(r, 0);
      let bytes = encode(cose, r, loose);
      if (r() < 0.1) bytes = concat(bytes, Uint8Array.of(0));
      if (r() < 0.1) bytes = bytes.subarray(0, Math.floor(r() * bytes.length));
      out.push(["cose", toHex(bytes)]);
    }
  }
  return out;
}

function run(kind, hex) {
  try {
    if (kind === "cose") {
      const e = parseCose(fromHex(hex));
      const alg = typeof e.algId === "boolean" ? (e.algId ? "True" : "False") : String(e.algId);
      return { ok: [alg, e.kid, toHex(e.protected), toHex(e.payload), toHex(e.signature)] };
    }
    const c = readClaims(fromHex(hex));
    return { ok: [certificateJson(c, null), c.licenceSerial, c.licenceIdFull] };
  } catch (exc) {
    return { err: exc.message };
  }
}

test("keys/ and the JavaScript stages agree on 1200 random COSE structures and claims maps", { skip: !existsSync(PYTHON) && "no .venv" }, () => {
  const all = cases(1200, 99);
  const ref = spawnSync(PYTHON, ["-c", REFERENCE], { cwd: REPO, input: JSON.stringify(all), encoding: "utf8", maxBuffer: 1 << 26 });
  assert.equal(ref.status, 0, ref.stderr);
  const reference = JSON.parse(ref.stdout);
  const outcomes = new Map();
  for (const [i, [kind, hex]] of all.entries()) {
    const mine = run(kind, hex);
    const theirs = reference[i];
    assert.deepEqual(mine, theirs, `${kind} ${hex}`);
    const key = `${kind}:${theirs.ok ? "ok" : theirs.err.slice(0, 40)}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  assert.ok(outcomes.get("claims:ok") > 30 && outcomes.get("cose:ok") > 30, JSON.stringify([...outcomes]));
});
