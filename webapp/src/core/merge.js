/**
 * The online/local merge rule of scanner/online.py (second_opinion) and the answer for what nothing can
 * place, once for every JavaScript caller; docs/test-vectors/merge.json pins both languages. The service's
 * answer is read as strictly as keys.answer.Answer.from_json reads it (one of another shape is a service
 * that did not answer), then checked against what this device can prove: a bad signature, or a key the
 * synced list does not hold, is not taken as good; the certificate's signed fields are shown (and compared
 * with the plate) from the signed code; a final state in the signed feed outweighs the service's word.
 */
import { STATE_LABELS, SIGNATURE_LABELS, Source, State, answerJson, decide, status } from "./answer.js";
import { decodeQrText } from "./cose.js";
import { parseIso } from "./time.js";
import { SIGNED_FIELDS } from "./verdict.js";

// scanner/verdicts.py BAD_SIGNATURES: results that prove the code is not good, whatever the network says.
export const BAD_SIGNATURES = Object.freeze(new Set(["invalid", "malformed", "key_revoked", "key_not_valid_at_issue"]));
// States the registry never moves a certificate out of (scanner/online.py FINAL_STATES).
const FINAL_STATES = new Set([State.REVOKED, State.ENDED, State.SUPERSEDED]);
// Compared between the service's certificate and the signed code (the rest is shown from the code silently).
const NOTED_FIELDS = new Set(["registration_no", "version", "equipment.record_no", "equipment.factory_serial", "project.name"]);

// scanner/online.py's notes, word for word.
export const FELL_BACK = "联网核验失败（{why}），已改用离线数据 / the service could not be reached ({why}); answered from offline data";
const LOCAL_DISAGREES = "服务答复的签名结果与本机用离线信任列表核验的结果（{result}）不同，以本机结果为准 / the service's signature " +
  "result differs from the check made here with the offline trust list ({result}); the local result stands";
const NOT_CHECKED_LOCALLY = "签名未能在本机核验（{why}），仅凭服务答复 / the signature could not be checked locally ({why}); " +
  "this is the service's word alone";
const FIELDS_ALTERED = "服务返回的证书内容与二维码签名内容不符（{fields}），已按签名内容显示和比对 / the service's certificate " +
  "differs from the signed code ({fields}); the signed values are shown and compared";
const STATE_DISAGREES = "服务答复状态为 {theirs}，但已签名的离线数据记录为 {mine}（不可撤回），以离线数据为准 / the service says " +
  "{theirs}, but the signed offline data records {mine}, which is never undone; the offline record stands";
export const NO_DATA = "尚无离线数据且无法联网，无法确认状态 / no offline data yet and the service cannot be reached";
export const NOT_FOUND = "未查询到登记信息，请核对使用登记编号和产权备案编号 / no certificate with these numbers";

const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, k) => values[k]);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** Why an answer the service sent cannot be read (keys.answer.AnswerError). */
export class ServiceAnswerError extends Error {}

const bad = (message) => new ServiceAnswerError(message);
const absent = (v) => v === undefined || v === null;
const object = (v, where) => {
  if (!isObject(v)) throw bad(`${where} is not an object`);
  return v;
};
const optionalObject = (v, where) => (absent(v) ? null : object(v, where));
const text = (v, where) => {
  if (typeof v !== "string") throw bad(`${where} is not text`);
  return v;
};
const optionalText = (v, where) => (absent(v) ? null : text(v, where));
const member = (labels, v, where) => {
  if (!Object.hasOwn(labels, text(v, where))) throw bad(`${where} '${v}' is not one of ${Object.keys(labels).join(", ")}`);
  return v;
};
function time(v, where) {
  let ms = null;
  try {
    ms = parseIso(text(v, where));
  } catch (exc) {
    if (exc instanceof ServiceAnswerError) throw exc;
    throw bad(`${where} '${v}' is not an ISO 8601 time`);
  }
  if (ms === null) throw bad(`${where} '${v}' has no UTC offset`);
  return ms;
}
const optionalTime = (v, where) => (absent(v) ? null : time(v, where));

/**
 * keys.answer.Answer.from_json: the service's answer JSON read strictly and given again as answer JSON (the
 * verdict decided afresh); ServiceAnswerError names the first field that does not parse, or a stated
 * verdict.ok that disagrees with the signature and state.
 */
export function readServiceAnswer(data) {
  const body = object(data, "answer");
  const signature = object(body.signature, "signature");
  const st = object(body.status, "status");
  const verdict = object(body.verdict, "verdict");
  const issuer = optionalObject(signature.issuer, "signature.issuer");
  const supersededBy = optionalObject(st.superseded_by, "status.superseded_by");
  if (supersededBy !== null) {
    text(supersededBy.registration_no, "status.superseded_by.registration_no");
    if (!Number.isInteger(supersededBy.version)) throw bad("status.superseded_by.version is not a whole number");
  }
  const mismatches = body.mismatches === undefined ? [] : body.mismatches;
  if (!Array.isArray(mismatches) || !mismatches.every((m) => typeof m === "string")) {
    throw bad("mismatches is not a list of field names");
  }
  const sig = {
    result: member(SIGNATURE_LABELS, signature.result, "signature.result"),
    kid: optionalText(signature.kid, "signature.kid"),
    alg: optionalText(signature.alg, "signature.alg"),
    issuer: issuer === null ? null
      : { code: text(issuer.code, "signature.issuer.code"), name: text(issuer.name, "signature.issuer.name") },
  };
  const state = member(STATE_LABELS, st.state, "status.state");
  const reason = text(st.reason === undefined ? "" : st.reason, "status.reason");
  const since = optionalTime(st.since, "status.since");
  const source = member(Object.fromEntries(Object.values(Source).map((s) => [s, s])),
    st.source === undefined ? Source.REGISTRY : st.source, "status.source");
  const dataTime = optionalTime(st.data_time, "status.data_time");
  const checkedAt = time(body.checked_at, "checked_at");
  const certificate = optionalObject(body.certificate, "certificate");
  const answer = answerJson(sig, status(state, { reason, since, source, supersededBy, dataTime }), checkedAt,
    certificate, mismatches);
  if (verdict.ok !== answer.verdict.ok) {
    throw bad(`verdict.ok is ${JSON.stringify(verdict.ok)}, but signature ${sig.result} and state ${state} give ${answer.verdict.ok}`);
  }
  return answer;
}

const same = (a, b) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** scanner/online.py signed_over: the service's certificate with every signed field from the code. */
export function signedOver(shown, signed) {
  const out = {};
  for (const [k, v] of Object.entries(shown ?? {})) out[k] = isObject(v) ? { ...v } : v;
  const hadAny = Object.keys(shown ?? {}).length > 0;
  const altered = [];
  for (const path of [...SIGNED_FIELDS].sort()) {
    const dot = path.lastIndexOf(".");
    const section = dot < 0 ? "" : path.slice(0, dot);
    const name = path.slice(dot + 1);
    const source = section ? signed[section] : signed;
    if (!isObject(source) || !Object.hasOwn(source, name)) continue;
    let target = out;
    if (section) {
      if (!Object.hasOwn(out, section) || !isObject(out[section])) out[section] = {};
      target = out[section];
    }
    if (!same(target[name], source[name])) {
      if (NOTED_FIELDS.has(path) && hadAny) altered.push(path);
      target[name] = source[name];
    }
  }
  return [out, altered];
}

/**
 * The service's answer JSON (the body of a 200) checked against the local one (a Checked from answerOffline,
 * or null/undefined when there is none): -> Checked {answer, mode, ageSeconds, notes, clockBehind}. A body
 * that is no answer is a service that did not answer: the local answer stands with a note, or, with none,
 * the code's unplaced answer (`text`, `now` as for unplacedCode).
 */
export function mergeOnline(body, local, { text: qrText = null, now = null, noLocal = "no offline data" } = {}) {
  let answer;
  try {
    answer = readServiceAnswer(body);
  } catch (exc) {
    if (!(exc instanceof ServiceAnswerError)) throw exc;
    const why = `the service's answer is not a verification answer: ${exc.message}`;
    if (local) return { ...local, notes: [fill(FELL_BACK, { why }), ...local.notes] };
    const reason = fill(FELL_BACK, { why });
    const placed = qrText === null ? placelessAnswer("unknown_key", "unknown", reason, now) : unplacedCode(qrText, now, reason);
    return { answer: placed, mode: "offline", ageSeconds: null, notes: [], clockBehind: false };
  }
  const checked = { answer, mode: "online", ageSeconds: local ? local.ageSeconds : null, notes: [],
    clockBehind: local ? local.clockBehind : false };
  if (!local) {
    checked.notes.push(fill(NOT_CHECKED_LOCALLY, { why: noLocal }));
    return checked;
  }
  const mine = local.answer;
  let { signature, status: st, certificate } = answer;
  const theirsSig = signature.result;
  const mySig = mine.signature.result;
  if (mySig !== theirsSig && (BAD_SIGNATURES.has(mySig) || (theirsSig === "valid" && mySig === "unknown_key"))) {
    signature = mine.signature;
    checked.notes.push(fill(LOCAL_DISAGREES, { result: mySig }));
  }
  if (mySig === "valid" && mine.certificate) {
    let altered;
    [certificate, altered] = signedOver(certificate, mine.certificate);
    if (altered.length) checked.notes.push(fill(FIELDS_ALTERED, { fields: altered.join(", ") }));
  }
  if (FINAL_STATES.has(mine.status.state) && st.state !== mine.status.state) {
    checked.notes.push(fill(STATE_DISAGREES, { theirs: st.state, mine: mine.status.state }));
    st = mine.status;
  }
  const mismatches = answer.mismatches ?? [];
  checked.answer = { verdict: { ...decide(signature.result, st.state, mismatches) }, signature, status: st, certificate,
    checked_at: answer.checked_at, ...(mismatches.length ? { mismatches } : {}) };
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
