/**
 * keys.payload.verify_at: one QR text checked against a trust list at a moment in time. The algorithm
 * comes from the trusted key, never from the header alone; every key with the kid is tried; the key is
 * judged at the signing time. Always an answer, never an exception.
 */

import { coseId, verifySignature } from "./algorithms.js";
import { certificateJson, readClaims } from "./claims.js";
import { decodeEnvelope, sigStructure } from "./cose.js";
import { Malformed } from "./errors.js";
import { parseLicenceId } from "./identifiers.js";
import { KeyRole, KeyState, ownsNumber } from "./trustlist.js";
import { DAY_MS, toMs } from "./time.js";

export const SignatureResult = Object.freeze({
  VALID: "valid",
  INVALID: "invalid",
  UNKNOWN_KEY: "unknown_key",
  KEY_NOT_VALID_AT_ISSUE: "key_not_valid_at_issue",
  KEY_REVOKED: "key_revoked",
  MALFORMED: "malformed",
  NOT_APPLICABLE: "not_applicable",
});

export const FUTURE_SKEW_MS = DAY_MS; // a signing time this far past the verifier's clock is not believed

/** TrustedKey.judge: validity and compromise at the signing time, so a retired key still verifies its past. */
export function judgeKey(key, signedAt) {
  if (key.state === KeyState.COMPROMISED && (key.compromisedAt === null || signedAt >= key.compromisedAt)) {
    return SignatureResult.KEY_REVOKED;
  }
  if (key.retiredAt !== null && signedAt >= key.retiredAt) return SignatureResult.KEY_NOT_VALID_AT_ISSUE;
  if ((key.notBefore !== null && signedAt < key.notBefore) || (key.notAfter !== null && signedAt > key.notAfter)) {
    return SignatureResult.KEY_NOT_VALID_AT_ISSUE;
  }
  return SignatureResult.VALID;
}

function verification(fields) {
  const v = {
    result: fields.result, kid: fields.kid ?? null, alg: fields.alg ?? null, issuer: fields.issuer ?? null,
    claims: fields.claims ?? null, reason: fields.reason ?? "", key: fields.key ?? null,
  };
  v.issuerFull = fields.issuerFull ?? null; // the trust list's issuer entry: credit code, number space, contact
  v.certificate = v.claims ? certificateJson(v.claims, v.issuerFull) : null;
  v.valid = v.result === SignatureResult.VALID;
  // Not one of our codes at all, as opposed to one of ours that failed a check.
  v.notOurs = v.result === SignatureResult.MALFORMED && v.claims === null;
  return Object.freeze(v);
}

/** Python's str() of a signing time (UTC): 2026-03-01 01:30:00+00:00. */
const pyUtc = (ms) => new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "+00:00");

/** Python's str() of a time the trust list wrote (its own offset kept): 2025-06-01 00:00:00+08:00; "-" for none. */
const pyWritten = (text) => (text ? `${text.slice(0, 10)} ${text.slice(11).replace(/Z$/, "+00:00")}` : "-");

/**
 * keys.payload.authority_problem: a key signs for its issuer only, so a number outside the issuer's space,
 * or a whole e-licence identifier naming another authority's credit code, is not its to give.
 */
export function authorityProblem(issuer, registrationNo, licenceIdFull) {
  // A key whose issuer the trust list does not name speaks for no number space.
  if (issuer === null) return `registration number ${registrationNo}: its issuer has no trust-list entry, so no number space`;
  if (!ownsNumber(issuer, registrationNo)) {
    return `registration number ${registrationNo} is outside the number space of issuer ${issuer.code}`;
  }
  if (licenceIdFull !== null && (!issuer.credit_code ||
      parseLicenceId(licenceIdFull).issuerCreditCode !== issuer.credit_code)) {
    return "the e-licence identifier names another issuer than the signing one";
  }
  return null;
}

export async function verifyAt(text, trust, now) {
  let envelope;
  try {
    envelope = decodeEnvelope(text);
  } catch (exc) {
    if (exc instanceof Malformed) return verification({ result: SignatureResult.MALFORMED, reason: exc.message });
    return verification({ result: SignatureResult.MALFORMED, reason: "not a crane certificate URL or payload" });
  }
  return verifyEnvelope(envelope, trust, toMs(now));
}

async function verifyEnvelope(envelope, trust, nowMs) {
  const candidates = trust.keysFor(envelope.kid, KeyRole.ISSUER);
  if (!candidates.length) {
    return verification({ result: SignatureResult.UNKNOWN_KEY, kid: envelope.kid, reason: "no trusted key has this kid" });
  }
  const message = sigStructure(envelope.protected, envelope.payload);
  let key = null;
  for (const candidate of candidates) {
    if (coseId(candidate.alg) === envelope.algId &&
        (await verifySignature(candidate.alg, candidate.spki, envelope.signature, message))) {
      key = candidate;
      break;
    }
  }
  if (key === null) {
    return verification({ result: SignatureResult.INVALID, kid: envelope.kid,
      reason: "signature does not verify with any trusted key of this kid" });
  }
  const issuer = trust.issuer(key.issuer);
  const issuerRef = issuer ? { code: issuer.code, name: issuer.name } : null;
  const found = { result: SignatureResult.VALID, kid: key.kid, alg: key.alg, issuer: issuerRef, key, issuerFull: issuer };
  let claims;
  try {
    claims = readClaims(envelope.payload);
  } catch (exc) {
    if (!(exc instanceof Malformed)) throw exc;
    return verification({ ...found, result: SignatureResult.MALFORMED, reason: exc.message });
  }
  const withClaims = { ...found, claims };
  if (claims.issuerCode !== key.issuer) {
    return verification({ ...withClaims, result: SignatureResult.INVALID, reason: "payload names another issuer than the key's" });
  }
  const beyond = authorityProblem(issuer, claims.registrationNo, claims.licenceIdFull);
  if (beyond !== null) return verification({ ...withClaims, result: SignatureResult.INVALID, reason: beyond });
  if (claims.signedAt > nowMs + FUTURE_SKEW_MS) {
    return verification({ ...withClaims, result: SignatureResult.KEY_NOT_VALID_AT_ISSUE, reason: "signing time is in the future" });
  }
  const judged = judgeKey(key, claims.signedAt);
  if (judged === SignatureResult.KEY_REVOKED) {
    return verification({ ...withClaims, result: judged, reason: `key ${key.kid} is compromised from ${key.written.compromisedAt ? pyWritten(key.written.compromisedAt) : "None"}` });
  }
  if (judged === SignatureResult.KEY_NOT_VALID_AT_ISSUE && key.retiredAt !== null && claims.signedAt >= key.retiredAt) {
    return verification({ ...withClaims, result: judged, reason: `key ${key.kid} is retired from ${pyWritten(key.written.retiredAt)}` });
  }
  if (judged === SignatureResult.KEY_NOT_VALID_AT_ISSUE) {
    return verification({ ...withClaims, result: judged,
      reason: `signed at ${pyUtc(claims.signedAt)}, outside key ${key.kid}'s validity ` +
        `${pyWritten(key.written.notBefore)} .. ${pyWritten(key.written.notAfter)}` });
  }
  return verification(withClaims);
}

/**
 * The answer's `signature` object (Verification.signature, or .signature_registered with the registry's
 * registration time: a stolen key cannot backdate its way past its compromise, because the registry
 * knows when it first saw the payload).
 */
export function signatureJson(v, registeredAt = null) {
  let result = v.result;
  const key = v.key;
  if (v.valid && key && key.compromisedAt !== null && registeredAt !== null && registeredAt !== undefined &&
      toMs(registeredAt) >= key.compromisedAt) {
    result = SignatureResult.KEY_REVOKED;
  }
  return { result, kid: v.kid ?? null, alg: v.alg ?? null, issuer: v.issuer ? { code: v.issuer.code, name: v.issuer.name } : null };
}
