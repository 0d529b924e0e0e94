/**
 * Stage `claims` of keys/payload.py: the CWT claims map read strictly and typed, and the answer's
 * `certificate` object built from it (Claims.certificate), with the implied e-licence identifier.
 */

import { fromUtf8 } from "./bytes.js";
import { CborError, isInt, loads } from "./cbor.js";
import { Malformed } from "./errors.js";
import { CRANE_TYPE_CODE, IdentifierError, SERIAL_RE, formatLicenceId, parseLicenceId } from "./identifiers.js";
import { inflate } from "./inflate.js";
import { isoDate, isoUtc } from "./time.js";

export const MAX_DEPTH = 6;

// CWT claims (RFC 8392) and the private-use certificate claim.
const ISS = 1;
const IAT = 6;
const CTI = 7;
const CERT = -65537;
const Field = Object.freeze({
  VERSION: 1, LICENCE_SERIAL: 2, LICENCE_ID: 3, ISSUED_ON: 4, CATEGORY: 5, MODEL: 6, RECORD_NO: 7,
  FACTORY_SERIAL: 8, USER: 9, PROJECT: 10, POSITION: 11,
});

// keys.record.Category, in code order (code = index + 1).
export const CATEGORIES = Object.freeze([
  Object.freeze({ value: "tower_crane", zh: "塔式起重机" }),
  Object.freeze({ value: "construction_hoist", zh: "施工升降机" }),
  Object.freeze({ value: "material_hoist", zh: "物料提升机" }),
  Object.freeze({ value: "gantry_crane", zh: "门式起重机" }),
]);

const DAY_MS = 86_400_000;
// Python's datetime and date hold years 1-9999.
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;
const MIN_DAYS = -719_162;
const MAX_DAYS = 2_932_896;

/** A claim that breaks a rule of the format; worded as Python words it, after "claims: ". */
class ClaimError extends Error {}

export function loadCbor(data, what, tags) {
  try {
    return loads(data, MAX_DEPTH, tags);
  } catch (exc) {
    if (exc instanceof CborError) throw new Malformed(`${what}: ${exc.message}`);
    throw exc;
  }
}

const KINDS = {
  bytes: (v) => v instanceof Uint8Array,
  str: (v) => typeof v === "string",
  int: isInt,
};

function typed(obj, key, kind, ...fallback) {
  if (!obj.has(key)) {
    if (fallback.length) return fallback[0];
    throw new ClaimError(`claim ${key} is missing`);
  }
  const value = obj.get(key);
  if (!KINDS[kind](value)) throw new ClaimError(`claim ${key} is not ${kind}`);
  return value;
}

function signingTime(seconds) {
  if (typeof seconds === "bigint" || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new ClaimError(`year is out of range`);
  }
  return seconds * 1000;
}

function dayCount(days) {
  if (typeof days === "bigint" || days < MIN_DAYS || days > MAX_DAYS) throw new ClaimError("date value out of range");
  return days;
}

function category(code) {
  if (typeof code !== "number" || code < 1 || code > CATEGORIES.length) {
    throw new ClaimError(`unknown equipment category code ${code}`);
  }
  return CATEGORIES[code - 1];
}

/** The typed claims of a COSE payload (keys.payload.Claims.from_cbor); throws Malformed. */
export function readClaims(payload) {
  const claims = loadCbor(inflate(payload), "claims");
  const cert = claims instanceof Map ? claims.get(CERT) : undefined;
  if (!(cert instanceof Map)) throw new Malformed("claims are not a map with the certificate claim");
  try {
    let registrationNo;
    try {
      registrationNo = fromUtf8(typed(claims, CTI, "bytes"));
    } catch (exc) {
      if (exc instanceof ClaimError) throw exc;
      throw new ClaimError("'utf-8' codec can't decode the registration number");
    }
    const result = {
      issuerCode: typed(claims, ISS, "str"),
      signedAt: signingTime(typed(claims, IAT, "int")),
      registrationNo,
      version: typed(cert, Field.VERSION, "int"),
      issuedOn: dayCount(typed(cert, Field.ISSUED_ON, "int")),
      category: category(typed(cert, Field.CATEGORY, "int")),
      model: typed(cert, Field.MODEL, "str"),
      recordNo: typed(cert, Field.RECORD_NO, "str"),
      factorySerial: typed(cert, Field.FACTORY_SERIAL, "str"),
      user: typed(cert, Field.USER, "str"),
      project: typed(cert, Field.PROJECT, "str"),
      position: typed(cert, Field.POSITION, "str", ""),
      licenceSerial: typed(cert, Field.LICENCE_SERIAL, "str", null),
      licenceIdFull: typed(cert, Field.LICENCE_ID, "str", null),
    };
    // A signed payload must still describe a certificate the rest of the system can state.
    if (!(result.version >= 1 && result.version <= 999)) throw new ClaimError("version must be 1-999");
    if (result.licenceSerial !== null && !SERIAL_RE.test(result.licenceSerial)) {
      throw new ClaimError("licence serial must be 1-32 characters of 0-9 and A-Z");
    }
    if (result.licenceIdFull !== null) parseLicenceId(result.licenceIdFull);
    return Object.freeze(result);
  } catch (exc) {
    if (exc instanceof ClaimError || exc instanceof IdentifierError) throw new Malformed(`claims: ${exc.message}`);
    throw exc;
  }
}

/** The whole identifier: carried in full, or implied from the issuer's credit code in the trust list. */
export function licenceId(claims, issuer) {
  if (claims.licenceIdFull || claims.licenceSerial === null) return claims.licenceIdFull;
  if (!issuer || !issuer.credit_code) return null;
  return formatLicenceId(CRANE_TYPE_CODE, issuer.credit_code, claims.licenceSerial, claims.version);
}

/** The answer's `certificate` object (keys.payload.Claims.certificate). */
export function certificateJson(claims, issuer) {
  return {
    registration_no: claims.registrationNo,
    version: claims.version,
    licence_id: licenceId(claims, issuer),
    issued_on: isoDate(claims.issuedOn * DAY_MS),
    issuer: { code: claims.issuerCode, name: issuer ? issuer.name : null },
    equipment: {
      category: claims.category.value, category_zh: claims.category.zh, model: claims.model,
      record_no: claims.recordNo, factory_serial: claims.factorySerial,
    },
    user: { name: claims.user },
    project: { name: claims.project, position: claims.position },
    signed_at: isoUtc(claims.signedAt),
  };
}
