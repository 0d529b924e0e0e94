/**
 * Stage `cose` of keys/payload.py: one tagged COSE_Sign1 (RFC 9052) in strict CBOR, alg and an 8-byte
 * kid in the protected header, nothing in the unprotected one; and the Sig_structure it signs.
 */

import { concat, toHex, utf8 } from "./bytes.js";
import { COSE_SIGN1_TAG, Tagged, isInt, loadPayloadItem } from "./cbor.js";
import { Malformed } from "./errors.js";
import { MAX_INFLATED } from "./inflate.js";
import { b32decode, unprefix } from "./qrtext.js";

const COSE_FIRST_BYTE = 0xd2; // tag 18, COSE_Sign1
const HDR_ALG = 1;
const HDR_KID = 4;
const COSE_TAGS = new Set([COSE_SIGN1_TAG]);

/** A parsed COSE_Sign1, before its signature is checked (keys.payload.Envelope). */
export function parseCose(data) {
  if (!data.length || data[0] !== COSE_FIRST_BYTE) throw new Malformed("not a tagged COSE_Sign1");
  if (data.length > MAX_INFLATED) throw new Malformed(`COSE structure larger than ${MAX_INFLATED} bytes`);
  const item = loadPayloadItem(data, "COSE", COSE_TAGS);
  if (!(item instanceof Tagged) || item.tag !== COSE_SIGN1_TAG) throw new Malformed("not a tagged COSE_Sign1");
  const parts = item.value;
  if (!(Array.isArray(parts) && parts.length === 4)) throw new Malformed("COSE_Sign1 is not an array of four");
  const [protectedBytes, unprotected, payload, signature] = parts;
  if (!(protectedBytes instanceof Uint8Array && unprotected instanceof Map &&
        payload instanceof Uint8Array && signature instanceof Uint8Array)) {
    throw new Malformed("COSE_Sign1 members have the wrong types");
  }
  const header = loadPayloadItem(protectedBytes, "protected header");
  if (!(header instanceof Map) || unprotected.size) {
    throw new Malformed("alg and kid belong in the protected header, and nothing else in the unprotected one");
  }
  const algId = header.get(HDR_ALG);
  const kid = header.get(HDR_KID);
  // Python's isinstance(alg, int) also holds for True and False; such an alg matches no key.
  if (!(isInt(algId) || typeof algId === "boolean") || !(kid instanceof Uint8Array) || kid.length !== 8) {
    throw new Malformed("protected header needs alg and an 8-byte kid");
  }
  return Object.freeze({ protected: protectedBytes, algId, kid: toHex(kid), payload, signature });
}

/** Whether a text is one of our codes at all: stages unprefix, base32 and cose, no keys needed. */
export function decodeQrText(text) {
  try {
    return Object.freeze({ ok: true, envelope: decodeEnvelope(text) });
  } catch (exc) {
    if (exc instanceof Malformed) return Object.freeze({ ok: false, reason: exc.message });
    throw exc;
  }
}

/** The COSE bytes of a QR text: stages unprefix, base32 and cose (keys.payload.decode). */
export function decodeEnvelope(text) {
  return parseCose(b32decode(unprefix(text)));
}

function bstrHead(length) {
  if (length < 24) return Uint8Array.of(0x40 | length);
  if (length < 0x100) return Uint8Array.of(0x58, length);
  if (length < 0x10000) return Uint8Array.of(0x59, length >> 8, length & 0xff);
  return Uint8Array.of(0x5a, length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
}

const SIGNATURE1 = concat(Uint8Array.of(0x84, 0x6a), utf8("Signature1"));

/** ["Signature1", protected, h'', payload] in canonical CBOR (keys.payload.sig_structure). */
export function sigStructure(protectedBytes, payload) {
  return concat(SIGNATURE1, bstrHead(protectedBytes.length), protectedBytes, Uint8Array.of(0x40),
    bstrHead(payload.length), payload);
}
