/**
 * The answer to "is this certificate good?", worded as keys/answer.py words it (zh-CN and en): the
 * signature result, the registry status and the verdict decided from them (`decide`), and the answer's
 * JSON, the same shape as the service's /api/v1/verify answer.
 */

import { SignatureResult } from "./verify.js";
import { isoChina } from "./time.js";

export const State = Object.freeze({
  VALID: "valid",
  ENDED: "ended",
  SUPERSEDED: "superseded",
  REVOKED: "revoked",
  SUSPENDED: "suspended",
  PAPER_LEGACY: "paper_legacy",
  NOT_FOUND: "not_found",
  UNKNOWN: "unknown",
});

export const Source = Object.freeze({ REGISTRY: "registry", OFFLINE: "offline" });

const pairs = (entries) => Object.freeze(Object.fromEntries(entries.map(([k, zh, en]) => [k, Object.freeze([zh, en])])));

export const STATE_LABELS = pairs([
  [State.VALID, "有效", "Valid"],
  [State.ENDED, "已终止", "Ended"],
  [State.SUPERSEDED, "已更正", "Superseded"],
  [State.REVOKED, "已撤销", "Revoked"],
  [State.SUSPENDED, "已暂扣", "Suspended"],
  [State.PAPER_LEGACY, "纸质证书", "Paper certificate"],
  [State.NOT_FOUND, "未查询到登记信息", "No registration found"],
  [State.UNKNOWN, "状态未知", "Status unknown"],
]);

// What a person reads, calm and precise: a signature we cannot check is not called forged.
const SIGNATURE_VERDICTS = pairs([
  [SignatureResult.INVALID, "签名无效，证书内容可能被篡改", "Signature invalid: the certificate may have been altered"],
  [SignatureResult.UNKNOWN_KEY, "无法识别签发机关的密钥，请联系发证机关", "Issuer key not recognised; contact the issuing authority"],
  [SignatureResult.KEY_NOT_VALID_AT_ISSUE, "签发时密钥不在有效期内", "Signed outside the issuer key's validity period"],
  [SignatureResult.KEY_REVOKED, "签发密钥已被吊销，证书不可信", "Signed with a revoked issuer key; not trustworthy"],
  [SignatureResult.MALFORMED, "不是有效的起重机械使用登记证书二维码", "Not a crane registration certificate code"],
]);

const STATE_VERDICTS = pairs([
  [State.VALID, "证书有效", "Certificate valid"],
  [State.ENDED, "证书已终止（已办理拆卸告知）", "Certificate ended (dismantled)"],
  [State.SUPERSEDED, "证书已更正，本版本作废，请以新版本为准", "Certificate corrected; this version is void"],
  [State.REVOKED, "证书已撤销", "Certificate revoked"],
  [State.SUSPENDED, "证书已暂扣", "Certificate suspended"],
  [State.PAPER_LEGACY, "纸质证书，登记有效，请核对纸质原件", "Paper certificate registered; check the original paper"],
  [State.NOT_FOUND, "未查询到登记信息，请联系发证机关", "No registration found; contact the issuing authority"],
  [State.UNKNOWN, "暂时无法确认证书状态，请稍后重试", "Status cannot be confirmed right now; try again later"],
]);

export const SIGNATURE_LABELS = pairs([
  [SignatureResult.VALID, "签名有效", "Signature valid"],
  [SignatureResult.INVALID, "签名无效", "Signature invalid"],
  [SignatureResult.UNKNOWN_KEY, "密钥未知", "Unknown key"],
  [SignatureResult.KEY_NOT_VALID_AT_ISSUE, "签发时密钥无效", "Key not valid at signing time"],
  [SignatureResult.KEY_REVOKED, "密钥已吊销", "Key revoked"],
  [SignatureResult.MALFORMED, "无法识别的二维码", "Not one of our codes"],
  [SignatureResult.NOT_APPLICABLE, "无电子签名", "No electronic signature"],
]);

export const MISMATCH_VERDICT = Object.freeze(["证书与设备不符", "Certificate does not match this crane or site"]);
const NO_SIGNATURE_TO_CHECK = ["登记有效，但无法核验电子签名，请核对原件", "Registered, but no signature to check; check the original"];

const verdict = (ok, [zh, en]) => Object.freeze({ ok, zh, en });

/** keys.answer.decide: ok only for a valid signature on a valid certificate, or a registered paper one. */
export function decide(signature, state, mismatches = []) {
  if (Object.hasOwn(SIGNATURE_VERDICTS, signature)) return verdict(false, SIGNATURE_VERDICTS[signature]);
  if (mismatches.length && (state === State.VALID || state === State.PAPER_LEGACY)) return verdict(false, MISMATCH_VERDICT);
  if (state === State.VALID && signature === SignatureResult.NOT_APPLICABLE) return verdict(false, NO_SIGNATURE_TO_CHECK);
  if (!Object.hasOwn(STATE_VERDICTS, state)) throw new TypeError(`unknown state ${state}`);
  const ok = state === State.PAPER_LEGACY || (state === State.VALID && signature === SignatureResult.VALID);
  return verdict(ok, STATE_VERDICTS[state]);
}

/**
 * A status (keys.answer.Status): state, reason, since (ms), source, superseded_by, and for offline data the
 * data time (ms).
 */
export function status(state, { reason = "", since = null, source = Source.REGISTRY, supersededBy = null, dataTime = null } = {}) {
  return Object.freeze({ state, reason, since, source, supersededBy, dataTime });
}

function statusJson(s) {
  const out = {
    state: s.state, label: { zh: STATE_LABELS[s.state][0], en: STATE_LABELS[s.state][1] }, reason: s.reason,
    since: isoChina(s.since), source: s.source, superseded_by: s.supersededBy,
  };
  if (s.dataTime !== null) out.data_time = isoChina(s.dataTime);
  return out;
}

const deepFreeze = (value) => {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
};

/** Answer.to_json: {verdict, signature, status, certificate, checked_at[, mismatches]}, frozen. */
export function answerJson(signature, st, checkedAt, certificate = null, mismatches = []) {
  const out = {
    verdict: { ...decide(signature.result, st.state, mismatches) },
    signature: { ...signature, issuer: signature.issuer ? { ...signature.issuer } : null },
    status: statusJson(st),
    certificate: certificate ? structuredClone(certificate) : null,
    checked_at: isoChina(checkedAt),
  };
  if (mismatches.length) out.mismatches = [...mismatches];
  return deepFreeze(out);
}

/** The answer with the plate's mismatches and the verdict decided again (scanner/verdicts.py cross_check). */
export function withMismatches(answer, mismatches) {
  const found = [...mismatches];
  const signature = answer?.signature?.result;
  const state = answer?.status?.state;
  const out = { ...answer, mismatches: found };
  if (Object.hasOwn(SIGNATURE_LABELS, signature) && Object.hasOwn(STATE_LABELS, state)) out.verdict = { ...decide(signature, state, found) };
  return deepFreeze(out);
}

const BAD_SIGNATURES = new Set([SignatureResult.INVALID, SignatureResult.MALFORMED, SignatureResult.KEY_REVOKED,
  SignatureResult.KEY_NOT_VALID_AT_ISSUE]);

/** scanner/verdicts.py mark_for: ✔ ok, ✖ bad, ⚠ warn, ? unknown. Never colour alone: each has an icon. */
export function markFor(answer) {
  const v = answer?.verdict ?? {};
  if (v.ok) return "ok";
  if (v.zh === MISMATCH_VERDICT[0] && v.en === MISMATCH_VERDICT[1]) return "bad";
  const signature = answer?.signature?.result;
  const state = answer?.status?.state;
  if (!Object.hasOwn(SIGNATURE_LABELS, signature) || !Object.hasOwn(STATE_LABELS, state)) return "bad";
  if (BAD_SIGNATURES.has(signature) || state === State.REVOKED) return "bad";
  if (signature === SignatureResult.UNKNOWN_KEY || state === State.UNKNOWN || state === State.NOT_FOUND) return "unknown";
  return "warn";
}
