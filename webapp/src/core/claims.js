/**
 * Stage `claims` of keys/payload.py: the CWT claims map read strictly and typed, and the answer's
 * `certificate` object built from it (Claims.certificate), with the implied e-licence identifier.
 */

import { fromUtf8 } from "./bytes.js";
import { isInt, loadPayloadItem } from "./cbor.js";
import { Malformed } from "./errors.js";
import { CRANE_TYPE_CODE, IdentifierError, SERIAL_RE, formatLicenceId, parseLicenceId } from "./identifiers.js";
import { inflate } from "./inflate.js";
import { DAY_MS, isoDate, isoUtc } from "./time.js";

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

// Python's datetime and date hold years 1-9999.
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;
const MIN_DAYS = -719_162n;
const MAX_DAYS = 2_932_896n;

/** A claim that breaks a rule of the format; worded as Python words it, after "claims: ". */
class ClaimError extends Error {}

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

const isCont = (b) => b >= 0x80 && b < 0xc0;

/** CPython's UnicodeDecodeError text for the first bad UTF-8 sequence, so a refusal reads as Python's. */
function utf8Error(bytes) {
  const fail = (start, length, why) => {
    const where = length === 1 ? `byte 0x${bytes[start].toString(16).padStart(2, "0")} in position ${start}`
      : `bytes in position ${start}-${start + length - 1}`;
    return `'utf-8' codec can't decode ${where}: ${why}`;
  };
  for (let i = 0; i < bytes.length;) {
    const ch = bytes[i];
    const need = ch < 0x80 ? 1 : ch < 0xc2 ? 0 : ch < 0xe0 ? 2 : ch < 0xf0 ? 3 : ch < 0xf5 ? 4 : 0;
    if (need === 0) return fail(i, 1, "invalid start byte");
    // The second byte's range also rules out overlong forms, surrogates and code points past U+10FFFF.
    const secondOk = (b) => isCont(b) && !(need === 3 && (b < 0xa0 ? ch === 0xe0 : ch === 0xed)) &&
      !(need === 4 && (b < 0x90 ? ch === 0xf0 : ch === 0xf4));
    for (let k = 1; k < need; k++) {
      if (i + k >= bytes.length) return fail(i, bytes.length - i, "unexpected end of data");
      if (!(k === 1 ? secondOk(bytes[i + k]) : isCont(bytes[i + k]))) return fail(i, k, "invalid continuation byte");
    }
    i += need;
  }
  return "'utf-8' codec can't decode the registration number";
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The proleptic Gregorian year of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
function yearOfDays(days) {
  const z = days + 719468n;
  const era = (z >= 0n ? z : z - 146096n) / 146097n;
  const doe = z - era * 146097n;
  const yoe = (doe - doe / 1460n + doe / 36524n - doe / 146096n) / 365n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  return yoe + era * 400n + (mp >= 10n ? 1n : 0n);
}

const floorDiv = (a, b) => (a >= 0n ? a / b : -((-a + b - 1n) / b));
const wrap32 = (v) => BigInt.asIntN(32, v);

/** datetime.fromtimestamp(seconds, UTC), worded as CPython refuses what it cannot hold (years 1-9999). */
function signingTime(seconds) {
  const t = BigInt(seconds);
  if (t >= MIN_SECONDS && t <= MAX_SECONDS) return Number(t) * 1000;
  if (t < INT64_MIN || t > INT64_MAX) throw new ClaimError("timestamp out of range for platform time_t");
  const year = yearOfDays(floorDiv(t, 86400n));
  if (year - 1900n < INT32_MIN || year - 1900n > INT32_MAX) throw new ClaimError("[Errno 75] Value too large for defined data type");
  throw new ClaimError(`year ${wrap32(year)} is out of range`);
}

/** _EPOCH + timedelta(days=days), worded as CPython refuses it. */
function dayCount(days) {
  const d = BigInt(days);
  if (d >= MIN_DAYS && d <= MAX_DAYS) return Number(d);
  if (d < INT32_MIN || d > INT32_MAX) throw new ClaimError("Python int too large to convert to C int");
  if (d < -999_999_999n || d > 999_999_999n) throw new ClaimError(`days=${d}; must have magnitude <= 999999999`);
  throw new ClaimError("date value out of range");
}

function category(code) {
  if (typeof code !== "number" || code < 1 || code > CATEGORIES.length) {
    throw new ClaimError(`unknown equipment category code ${code}`);
  }
  return CATEGORIES[code - 1];
}

/** The typed claims of a COSE payload (keys.payload.Claims.from_cbor); throws Malformed. */
export function readClaims(payload) {
  const claims = loadPayloadItem(inflate(payload), "claims");
  const cert = claims instanceof Map ? claims.get(CERT) : undefined;
  if (!(cert instanceof Map)) throw new Malformed("claims are not a map with the certificate claim");
  try {
    const cti = typed(claims, CTI, "bytes");
    let registrationNo;
    try {
      registrationNo = fromUtf8(cti);
    } catch {
      throw new ClaimError(utf8Error(cti));
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
