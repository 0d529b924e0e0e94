/**
 * Stage `inflate` of keys/payload.py: the claims CBOR of a COSE payload, a CBOR map as it is or a zlib
 * stream with the format's preset dictionary. Bounded before and while inflating: the stream must name
 * our dictionary, end exactly (no bytes after it), pass its Adler-32 check and stay within MAX_INFLATED.
 */

import {
  ZStream, Z_BUF_ERROR, Z_NEED_DICT, Z_NO_FLUSH, Z_OK, Z_STREAM_END,
  zlibInflate, zlibInflateEnd, zlibInflateInit2, zlibInflateSetDictionary,
} from "pako";

import { Malformed } from "./errors.js";
import { ZDICT } from "./zdict.js";

export const MAX_INFLATED = 4096;
const ZLIB_FIRST_BYTE = 0x78;
const FDICT = 0x20;
const WINDOW_BITS = 15;

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

export const DICT_ID = adler32(ZDICT);

const isMapByte = (byte) => byte >= 0xa0 && byte < 0xc0;

export function inflate(raw) {
  if (!raw.length) throw new Malformed("empty payload");
  if (raw.length > MAX_INFLATED) throw new Malformed(`payload larger than ${MAX_INFLATED} bytes`);
  if (isMapByte(raw[0])) return raw;
  if (raw[0] !== ZLIB_FIRST_BYTE) throw new Malformed("payload is neither a claims map nor zlib");
  const named = raw.length >= 6 ? ((raw[2] << 24) | (raw[3] << 16) | (raw[4] << 8) | raw[5]) >>> 0 : -1;
  if (raw.length < 6 || !(raw[1] & FDICT) || named !== DICT_ID) {
    throw new Malformed("zlib stream does not use the format's preset dictionary");
  }
  return inflateStream(raw);
}

function inflateStream(raw) {
  const strm = new ZStream();
  zlibInflateInit2(strm, WINDOW_BITS);
  strm.input = raw;
  strm.next_in = 0;
  strm.avail_in = raw.length;
  // One byte more than allowed: filling it proves the stream inflates past the limit, without going on.
  strm.output = new Uint8Array(MAX_INFLATED + 1);
  strm.next_out = 0;
  strm.avail_out = MAX_INFLATED + 1;
  try {
    let status = zlibInflate(strm, Z_NO_FLUSH);
    if (status === Z_NEED_DICT) {
      status = zlibInflateSetDictionary(strm, ZDICT);
      if (status === Z_OK) status = zlibInflate(strm, Z_NO_FLUSH);
    }
    while (status === Z_OK && strm.avail_in > 0 && strm.avail_out > 0) status = zlibInflate(strm, Z_NO_FLUSH);
    const produced = strm.next_out;
    // Z_BUF_ERROR only says the input ran out (a truncated stream, judged below), as Python's zlib treats it.
    if (status < 0 && status !== Z_BUF_ERROR) throw new Malformed("payload is not a valid zlib stream");
    if (produced > MAX_INFLATED) throw new Malformed(`payload inflates past ${MAX_INFLATED} bytes`);
    if (status !== Z_STREAM_END) throw new Malformed("zlib stream is truncated");
    if (strm.avail_in > 0) throw new Malformed("bytes follow the zlib stream");
    return strm.output.slice(0, produced);
  } finally {
    zlibInflateEnd(strm);
  }
}
