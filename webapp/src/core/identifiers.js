/**
 * National identifiers as keys/identifiers.py checks them: the e-licence identifier (GB/T 36904) and
 * the unified social credit code (GB 32100).
 */

import { CoreError } from "./errors.js";

export class IdentifierError extends CoreError {}

export const LICENCE_ROOT = "1.2.156.3005.2";
// The crane certificate's own 3-digit suffix is not public: the obviously fake 999 stands for it.
export const CRANE_TYPE_CODE = "11100000000013338W999";

const MOD37_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];
const CREDIT_RE = /^[0-9ABCDEFGHJKLMNPQRTUWXY]{18}$/;
export const SERIAL_RE = /^[0-9A-Z]{1,32}$/;
const VERSION_RE = /^[0-9]{3}$/;
// An identifier anywhere in a text: bare, or inside a URL of another system (keys.identifiers.LICENCE_IN_TEXT).
export const LICENCE_IN_TEXT = /1\.2\.156\.3005\.2\.[0-9A-Za-z.]{20,120}/;

export function mod3736Check(data) {
  let c = 36;
  for (const ch of data) {
    const v = MOD37_ALPHABET.indexOf(ch);
    if (v < 0) throw new IdentifierError(`character '${ch}' is not allowed (0-9, A-Z)`);
    c = (c + v) % 36 || 36;
    c = (2 * c) % 37;
  }
  return MOD37_ALPHABET[(37 - c) % 36];
}

function creditCodeCheck(first17) {
  let total = 0;
  [...first17].forEach((ch, i) => {
    total += CREDIT_ALPHABET.indexOf(ch) * CREDIT_WEIGHTS[i];
  });
  return CREDIT_ALPHABET[(31 - (total % 31)) % 31];
}

export function validateCreditCode(code) {
  if (typeof code !== "string" || !CREDIT_RE.test(code)) {
    throw new IdentifierError("a credit code is 18 characters of 0-9 and A-Z without I, O, S, V, Z");
  }
  if (creditCodeCheck(code.slice(0, 17)) !== code[17]) {
    throw new IdentifierError(`credit code ${code} fails its check character`);
  }
  return code;
}

const pad3 = (n) => String(n).padStart(3, "0");

/** The identifier's text; its parts are checked as keys.identifiers.LicenceId does on construction. */
export function formatLicenceId(typeCode, issuerCreditCode, serial, version) {
  if (!(typeCode.length === 21 && /^[0-9]+$/.test(typeCode.slice(18)))) {
    throw new IdentifierError("type code is the ministry's 18-character credit code and 3 digits");
  }
  validateCreditCode(typeCode.slice(0, 18));
  validateCreditCode(issuerCreditCode);
  if (!SERIAL_RE.test(serial)) throw new IdentifierError("serial is 1-32 characters of 0-9 and A-Z");
  if (!(version > 0 && version < 1000)) throw new IdentifierError("version is 001-999");
  const check = mod3736Check(typeCode + issuerCreditCode + serial + pad3(version));
  return [LICENCE_ROOT, typeCode, issuerCreditCode, serial, pad3(version), check].join(".");
}

/** Parse and verify an identifier (keys.identifiers.LicenceId.parse); throws IdentifierError. */
export function parseLicenceId(text) {
  if (typeof text !== "string" || !text.startsWith(LICENCE_ROOT + ".")) {
    throw new IdentifierError(`an e-licence identifier starts with ${LICENCE_ROOT}.`);
  }
  const parts = text.slice(LICENCE_ROOT.length + 1).split(".");
  if (parts.length !== 5) {
    throw new IdentifierError("an e-licence identifier has type, issuer, serial, version and check parts");
  }
  const [typeCode, issuer, serial, version, check] = parts;
  if ([...check].length !== 1 || !VERSION_RE.test(version)) {
    throw new IdentifierError("version is 3 digits and the check is one character");
  }
  if (mod3736Check(typeCode + issuer + serial + version) !== check) {
    throw new IdentifierError(`e-licence identifier ${text} fails its check character`);
  }
  return Object.freeze({
    text: formatLicenceId(typeCode, issuer, serial, Number(version)), typeCode, issuerCreditCode: issuer, serial,
    version: Number(version),
  });
}
