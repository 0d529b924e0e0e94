/**
 * The one decision, as keys/verdict.py makes it: a scanned code, its signature and its registry entry
 * -> the answer. The registry is the service's (online) or the synced feed (offline, offline.js); what
 * only one of them can say arrives as `unavailable(reason)`, so every answer is decided and worded here.
 *
 * A registry is {provenance: {source, dataTime}, entry(registrationNo, version), byLicence(licenceId)},
 * each lookup answering (or resolving to) an entry, unavailable(reason), or null for "no such certificate";
 * byLicence gets the parsed identifier {text (the whole identifier), typeCode, issuerCreditCode, serial, version}.
 * An entry: {registrationNo, version, state, match, reason, since, supersededBy, registeredAt, issuer,
 * certificate}, times as ISO 8601 text with offset; match is samePayload(qrText) or sameRecordNo(recordNo).
 */

import { answerJson, State, status } from "./answer.js";
import { Malformed } from "./errors.js";
import { IdentifierError, LICENCE_IN_TEXT, parseLicenceId } from "./identifiers.js";
import { MAX_TEXT, textLength, unprefix } from "./qrtext.js";
import { isoSeconds, parseIso, toMs } from "./time.js";
import { SignatureResult, signatureJson, verifyAt } from "./verify.js";

export const NOT_OURS = "不是本系统的证书二维码 / not a certificate code of this system";
export const SIG_FAILED = "签名未通过，未查询登记状态 / signature failed; status not looked up";
export const NOT_REGISTERED = "未查询到登记信息（新发证书可能尚未同步），请联系发证机关 / No registration found; new certificates " +
  "may not have arrived yet";
export const DIFFERS = "二维码内容与登记的证书不一致 / The QR content differs from the registered certificate";

/** The registry keeps the code it registered: a scanned code matches only with exactly its signed payload. */
export const samePayload = (qrText) => Object.freeze({ qrText: qrText ?? null });
/** Offline data keeps the record number, not the code: the code's claims must state it ("" compares nothing). */
export const sameRecordNo = (recordNo) => Object.freeze({ recordNo: recordNo ?? "" });
/** The registry cannot say; the state is unknown, for this reason. */
export const unavailable = (reason) => Object.freeze({ unavailable: reason });

const isUnavailable = (found) => found !== null && typeof found === "object" && "unavailable" in found;
const moment = (text) => (text ? parseIso(text) : null);

function statusOf(entry, provenance) {
  const supersededBy = entry.supersededBy ? { registration_no: entry.registrationNo, version: entry.supersededBy } : null;
  return status(entry.state, { reason: entry.reason ?? "", since: moment(entry.since), supersededBy, ...provenance });
}

function notOurs(now, provenance) {
  return answerJson(signatureJson({ result: SignatureResult.MALFORMED }), status(State.UNKNOWN, { reason: NOT_OURS, ...provenance }), now);
}

function matches(found, text, claims) {
  // A paper certificate has no code (offline data keeps no payloads, only this state): keys/verdict.py _matches.
  if (found.state === State.PAPER_LEGACY) return false;
  const match = found.match;
  if ("recordNo" in match) return !match.recordNo || match.recordNo === claims.recordNo;
  if (match.qrText === null) return false;
  // Hosts and path case may differ between prints of one code; the signed payload may not.
  const payload = payloadOrNull(text);
  return payload !== null && payload === payloadOrNull(match.qrText);
}

function payloadOrNull(text) {
  try {
    return unprefix(text);
  } catch (exc) {
    if (exc instanceof Malformed) return null;
    throw exc;
  }
}

/**
 * keys.verdict.answer_code: the answer JSON for a scanned text (a QR URL or payload, or an e-licence
 * identifier anywhere in it). Resolves to {answer, verification}; verification is null when none ran.
 */
export async function answerCode(text, trust, registry, now) {
  const nowMs = toMs(now);
  const provenance = registry.provenance;
  if (typeof text !== "string" || textLength(text) > MAX_TEXT) return { answer: notOurs(nowMs, provenance), verification: null };
  // A code in one of our payload forms answers by its signature alone: an identifier written into its host
  // ("https://1.2.156.3005.2.<id>/V/<forged payload>") must not make it pass for that certificate.
  const licence = payloadOrNull(text) === null ? LICENCE_IN_TEXT.exec(text) : null;
  if (licence) return { answer: await byLicence(licence[0].replace(/\.+$/, ""), trust, registry, nowMs), verification: null };
  const verification = await verifyAt(text, trust, nowMs);
  if (verification.notOurs) return { answer: notOurs(nowMs, provenance), verification };
  const signature = signatureJson(verification);
  const claims = verification.claims;
  if (claims === null || verification.result === SignatureResult.INVALID) {
    // Claims without a good signature are an attacker's words: look nothing up for them.
    return { answer: answerJson(signature, status(State.UNKNOWN, { reason: SIG_FAILED, ...provenance }), nowMs), verification };
  }
  let certificate = structuredClone(verification.certificate);
  const found = await registry.entry(claims.registrationNo, claims.version);
  const answer = (st, sig = signature) => ({ answer: answerJson(sig, st, nowMs, certificate), verification });
  if (isUnavailable(found)) return answer(status(State.UNKNOWN, { reason: found.unavailable, ...provenance }));
  if (found === null || found === undefined) return answer(status(State.NOT_FOUND, { reason: NOT_REGISTERED, ...provenance }));
  if (!matches(found, text, claims)) return answer(status(State.NOT_FOUND, { reason: DIFFERS, ...provenance }));
  if (found.certificate) certificate = publicCertificate(found.certificate, verification.issuerFull, true);
  else if (found.registeredAt) certificate.registered_at = isoSeconds(found.registeredAt);
  return answer(statusOf(found, provenance), signatureJson(verification, moment(found.registeredAt)));
}

/**
 * keys.verdict.answer_entry: a certificate found by its numbers or identifier: its registered code checked
 * afresh against today's trust list, or, without one, no signature to check.
 */
export async function answerEntry(entry, trust, now, provenance = {}) {
  const nowMs = toMs(now);
  const qrText = "qrText" in entry.match ? entry.match.qrText : null;
  let signature;
  let issuer;
  if (qrText) {
    const verification = await verifyAt(qrText, trust, nowMs);
    signature = signatureJson(verification, moment(entry.registeredAt));
    issuer = verification.issuerFull;
  } else {
    issuer = entry.issuer ? trust.issuer(entry.issuer) : null;
    signature = { result: SignatureResult.NOT_APPLICABLE, kid: null, alg: null,
      issuer: issuer ? { code: issuer.code, name: issuer.name } : null };
  }
  const certificate = entry.certificate ? publicCertificate(entry.certificate, issuer, Boolean(qrText)) : null;
  return answerJson(signature, statusOf(entry, provenance), nowMs, certificate);
}

/** What a signed payload states (keys.verdict.SIGNED_FIELDS); a registry's record may say more, on its own word. */
export const SIGNED_FIELDS = new Set(["registration_no", "version", "licence_id", "issued_on", "equipment.category",
  "equipment.model", "equipment.record_no", "equipment.factory_serial", "user.name", "project.name", "project.position"]);
const NOT_LABELLED = new Set(["issuer.code", "issuer.name", "issuer.credit_code", "equipment.category_zh", "registered_at"]);
// Python's `value not in (None, "", False)`: 0 equals False there.
const saysSomething = (v) => !(v === null || v === undefined || v === "" || v === false || v === 0 ||
  (Array.isArray(v) && v.length === 0));

/**
 * keys.verdict.public_certificate: the registry's record with the issuer as the trust list names it (the
 * signer's, for a signed code) and `registry_data` naming the fields no signature covers.
 */
export function publicCertificate(certificate, issuer, signed) {
  const out = { ...certificate };
  const code = issuer ? issuer.code : (certificate.issuer ?? {}).code ?? null;
  out.issuer = { code, name: issuer ? issuer.name : null, credit_code: issuer ? issuer.credit_code : null };
  const paths = [];
  for (const [key, value] of Object.entries(out)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [inner, v] of Object.entries(value)) if (saysSomething(v)) paths.push(`${key}.${inner}`);
    } else if (saysSomething(value)) {
      paths.push(key);
    }
  }
  out.registry_data = paths.filter((p) => !NOT_LABELLED.has(p) && !(signed && SIGNED_FIELDS.has(p))).sort();
  return out;
}

async function byLicence(candidate, trust, registry, nowMs) {
  const provenance = registry.provenance;
  let licenceId;
  try {
    licenceId = parseLicenceId(candidate);
  } catch (exc) {
    if (exc instanceof IdentifierError) return notOurs(nowMs, provenance);
    throw exc;
  }
  const found = await registry.byLicence(licenceId);
  const none = { result: SignatureResult.NOT_APPLICABLE, kid: null, alg: null, issuer: null };
  if (isUnavailable(found)) return answerJson(none, status(State.UNKNOWN, { reason: found.unavailable, ...provenance }), nowMs);
  if (found === null || found === undefined) {
    return answerJson(none, status(State.NOT_FOUND, { reason: NOT_REGISTERED, ...provenance }), nowMs);
  }
  return answerEntry(found, trust, nowMs, provenance);
}
