/**
 * The online/local merge rule of scanner/online.py and the answer for what nothing can place, once for
 * every JavaScript caller: the registry's status wins; a signature this device proves bad overrides the
 * service's "valid" (a key it does not know yet proves nothing).
 */
import { STATE_LABELS, decide } from "./answer.js";
import { decodeQrText } from "./cose.js";

// scanner/verdicts.py BAD_SIGNATURES: results that prove the code is not good, whatever the network says.
export const BAD_SIGNATURES = Object.freeze(new Set(["invalid", "malformed", "key_revoked", "key_not_valid_at_issue"]));

const LOCAL_DISAGREES = "服务答复签名有效，但本机核验为 {r}，以本机结果为准 / the service said the signature is valid, but " +
  "checked on this device it is {r}; the local result stands";
export const NO_DATA = "尚无离线数据且无法联网，无法确认状态 / no offline data yet and the service cannot be reached";
export const NOT_FOUND = "未查询到登记信息，请核对使用登记编号和产权备案编号 / no certificate with these numbers";

/**
 * The service's answer checked against the local one (a Checked from answerOffline, or null/undefined):
 * -> Checked {answer, mode: "online", ageSeconds, notes, clockBehind}.
 */
export function mergeOnline(answer, local) {
  const checked = { answer, mode: "online", ageSeconds: local ? local.ageSeconds : null, notes: [],
    clockBehind: local ? local.clockBehind : false };
  if (!local || answer.signature.result !== "valid") return checked;
  const result = local.answer.signature.result;
  if (!BAD_SIGNATURES.has(result)) return checked;
  const state = STATE_LABELS[answer.status.state] ? answer.status.state : "unknown";
  checked.answer = { ...answer, signature: { ...answer.signature, result }, verdict: decide(result, state) };
  checked.notes.push(LOCAL_DISAGREES.replaceAll("{r}", result));
  return checked;
}

/** An answer with no certificate to show: for a code or numbers neither the device nor the service can place. */
export function placelessAnswer(signatureResult, state, reason, now, source = "offline") {
  const [zh, en] = STATE_LABELS[state];
  return {
    verdict: decide(signatureResult, state),
    signature: { result: signatureResult, kid: null, alg: null, issuer: null },
    status: { state, label: { zh, en }, reason, since: null, source, superseded_by: null },
    certificate: null,
    checked_at: new Date(now).toISOString(),
  };
}

/** A QR text with no offline data and no service: malformed if it is none of our codes, else unknown. */
export function unplacedCode(text, now, reason = NO_DATA) {
  return placelessAnswer(decodeQrText(text).ok ? "unknown_key" : "malformed", "unknown", reason, now);
}
