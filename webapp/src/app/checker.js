// One code (or a pair of numbers) to one settled answer. The local check always runs, with the synced trust
// list and feed (the core's offline answer). With signal the service is asked too, and its registry status
// wins; but a signature the phone can prove bad is not taken as good from the network (the CLI scanner's
// rule, scanner/online.py). Without the service, the offline answer stands and says how old its data is.
import { STATE_LABELS, answerOffline, answerOfflineByNumbers, decide, decodeQrText } from "../core/index.js";
import { fetchWithin } from "./net.js";

const ONLINE_TIMEOUT_MS = 6000;
// scanner/verdicts.py BAD_SIGNATURES: results that prove the code is not good, whatever the network says.
const BAD_SIGNATURES = new Set(["invalid", "malformed", "key_revoked", "key_not_valid_at_issue"]);
const LOCAL_DISAGREES = "服务答复签名有效，但本机核验为 {r}，以本机结果为准 / the service said the signature is valid, but " +
  "checked on this phone it is {r}; the local result stands";
const NO_DATA = "尚无离线数据且无法联网，无法确认状态 / no offline data yet and the service cannot be reached";
const NOT_FOUND = "未查询到登记信息，请核对使用登记编号和产权备案编号 / no certificate with these numbers";

export class Checker {
  /** offline(): the current {trust, source} or null; settled(): resolves when the data a check rests on is in. */
  constructor({ offline, settled, maxAgeMs, now = () => Date.now() }) {
    this.offline = offline;
    this.settled = settled;
    this.maxAgeMs = maxAgeMs;
    this.now = now;
  }

  /** -> {answer, mode: "online"|"offline", ageSeconds, notes, clockBehind} */
  async check(text) {
    const [local, online] = await Promise.all([
      this.#local((o, now) => answerOffline(text, o.trust, o.source, now, { maxAgeMs: this.maxAgeMs() })),
      this.#ask("/api/v1/verify", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ qr: text }) }),
    ]);
    if (online && online.status === 200) return secondOpinion(online.answer, local);
    if (local) return local;
    const result = decodeQrText(text).ok ? "unknown_key" : "malformed";
    return offlineOnly(plainAnswer(result, "unknown", NO_DATA, this.now()));
  }

  async lookup(registrationNo, recordNo) {
    const path = `/api/v1/certificates/${encodeURIComponent(registrationNo)}?record_no=${encodeURIComponent(recordNo)}`;
    const [local, online] = await Promise.all([
      this.#local((o, now) => answerOfflineByNumbers(registrationNo, recordNo, o.trust, o.source, now,
        { maxAgeMs: this.maxAgeMs() })),
      this.#ask(path, { method: "GET" }),
    ]);
    const ageSeconds = local ? local.ageSeconds : null;
    if (online && online.status === 200) {
      return { answer: online.answer, mode: "online", ageSeconds, notes: [], clockBehind: false };
    }
    if (online && online.status === 404) {
      return { answer: plainAnswer("not_applicable", "not_found", NOT_FOUND, this.now(), "registry"), mode: "online",
        ageSeconds, notes: [], clockBehind: false };
    }
    if (local) return local;
    // null: the synced data holds the registration number with another record number (the service's 404)
    if (local === null) return offlineOnly(plainAnswer("not_applicable", "not_found", NOT_FOUND, this.now()));
    return offlineOnly(plainAnswer("not_applicable", "unknown", NO_DATA, this.now()));
  }

  /** The core's offline answer; undefined when the phone has no data to answer from (or cannot read it). */
  async #local(run) {
    await this.settled();
    const offline = this.offline();
    if (!offline) return undefined;
    try {
      return await run(offline, this.now());
    } catch (error) {
      // The offline data could not be read (storage cleared under us, a broken row): the service may still answer.
      console.warn("offline check failed", error);
      return undefined;
    }
  }

  /** The service's answer, or null when it cannot give one now (no network, timeout, its store down). */
  async #ask(path, init) {
    try {
      const response = await fetchWithin(path, ONLINE_TIMEOUT_MS, { ...init, cache: "no-store" });
      if (response.status !== 200 && response.status !== 404) return null;
      const answer = await response.json();
      if (response.status === 200 && response.headers.get("Retry-After") && answer.status && answer.status.state === "unknown") {
        return null; // the service is up but its registry is not: the offline data knows more
      }
      return { status: response.status, answer };
    } catch {
      return null;
    }
  }
}

function secondOpinion(answer, local) {
  const checked = { answer, mode: "online", ageSeconds: local ? local.ageSeconds : null, notes: [],
    clockBehind: local ? local.clockBehind : false };
  if (!local || answer.signature.result !== "valid") return checked;
  const result = local.answer.signature.result;
  if (!BAD_SIGNATURES.has(result)) return checked; // a key this phone does not know yet proves nothing
  const state = STATE_LABELS[answer.status.state] ? answer.status.state : "unknown";
  checked.answer = { ...answer, signature: { ...answer.signature, result }, verdict: decide(result, state) };
  checked.notes.push(LOCAL_DISAGREES.replaceAll("{r}", result));
  return checked;
}

function offlineOnly(answer) {
  return { answer, mode: "offline", ageSeconds: null, notes: [], clockBehind: false };
}

/** An answer with no certificate to show: for a code or numbers neither the phone nor the service can place. */
function plainAnswer(signatureResult, state, reason, now, source = "offline") {
  const [zh, en] = STATE_LABELS[state];
  return {
    verdict: decide(signatureResult, state),
    signature: { result: signatureResult, kid: null, alg: null, issuer: null },
    status: { state, label: { zh, en }, reason, since: null, source, superseded_by: null },
    certificate: null,
    checked_at: new Date(now).toISOString(),
  };
}
