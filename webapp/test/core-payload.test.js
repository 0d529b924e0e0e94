// The outer stages one by one, as docs/credential-format.md states them: the QR text forms, canonical
// base32, and zlib with the preset dictionary (the checks a stream must pass before claims are read).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Deflate } from "pako";

import { concat, utf8 } from "../src/core/bytes.js";
import { Malformed } from "../src/core/errors.js";
import { inflate } from "../src/core/inflate.js";
import { b32decode, b32encode, unprefix } from "../src/core/qrtext.js";
import { ZDICT } from "../src/core/zdict.js";
import "./core-support.js"; // WebCrypto on Node 18

const PAYLOAD = "2KCE3IQBE4CEQJDAR2H4QWEWWOQFQ63Y";

test("the QR text forms Python accepts, and nothing else", () => {
  for (const text of [`HTTPS://VERIFY.EXAMPLE.CN/V/${PAYLOAD}`, `https://verify.example.cn/v/${PAYLOAD}`,
    `http://localhost:8000/V/${PAYLOAD}`, ` \t${PAYLOAD}\u3000\n`, `HTTP\u017f://x/V/${PAYLOAD}`, `\u0085${PAYLOAD}\u001c`]) {
    assert.equal(unprefix(text), PAYLOAD, JSON.stringify(text));
  }
  for (const text of [`https://verify.example.cn/v/${PAYLOAD.toLowerCase()}`, `https://verify.example.cn/V/${PAYLOAD}?a=1`,
    `https://verify.example.cn/x/V/${PAYLOAD}`, `ftp://verify.example.cn/V/${PAYLOAD}`, `https:///V/${PAYLOAD}`,
    `\ufeff${PAYLOAD}`, "ABCDEFGHIJKLMNO", `https://${"h".repeat(254)}/V/${PAYLOAD}`, "A".repeat(2049)]) {
    assert.throws(() => unprefix(text), Malformed, JSON.stringify(text).slice(0, 80));
  }
  assert.equal(unprefix("A".repeat(2048)), "A".repeat(2048));
  // Counted in characters, as Python counts, not in UTF-16 units.
  assert.throws(() => unprefix("\u{1f600}".repeat(1025)), /not a crane certificate/);
  assert.throws(() => unprefix("\u{1f600}".repeat(2049)), /longer than 2048/);
});

test("base32 has one spelling per byte string", () => {
  const bytes = utf8("crane-verify");
  assert.deepEqual(b32decode(b32encode(bytes)), bytes);
  assert.equal(b32encode(Uint8Array.of(0xff)), "74");
  assert.throws(() => b32decode("75"), /non-zero trailing bits/);
  for (const length of [1, 3, 6, 9]) assert.throws(() => b32decode("A".repeat(length)), /impossible length/);
  assert.throws(() => b32decode("A1"), /not base32/);
});

function deflated(claims) {
  const d = new Deflate({ level: 9, dictionary: ZDICT });
  d.push(claims, true);
  return d.result.slice();
}

test("zlib: the preset dictionary named, the checksum right, the stream ended exactly, the size capped", () => {
  const claims = concat(Uint8Array.of(0xa1, 0x01), utf8("c"), utf8("沈阳市城乡建设局".repeat(3)));
  claims[2] = 0x78; // text of 24+ bytes follows: a well-formed map is not needed at this stage
  const stream = deflated(claims);
  assert.deepEqual(inflate(stream), claims);
  const badSum = stream.slice();
  badSum[badSum.length - 1] ^= 1;
  assert.throws(() => inflate(badSum), /not a valid zlib stream/);
  assert.throws(() => inflate(stream.subarray(0, stream.length - 2)), /truncated/);
  assert.throws(() => inflate(concat(stream, Uint8Array.of(0))), /bytes follow/);
  const otherDict = stream.slice();
  otherDict[5] ^= 1;
  assert.throws(() => inflate(otherDict), /preset dictionary/);
  const noFlag = stream.slice();
  noFlag[1] &= ~0x20;
  assert.throws(() => inflate(noFlag), /preset dictionary/);
  assert.throws(() => inflate(deflated(new Uint8Array(5000))), /inflates past 4096/);
  assert.throws(() => inflate(new Uint8Array(4097).fill(0xa0)), /larger than 4096/);
  assert.throws(() => inflate(Uint8Array.of(0x80)), /neither a claims map nor zlib/);
  assert.throws(() => inflate(new Uint8Array(0)), /empty payload/);
});
