// One code (or a pair of numbers) to one settled answer. The local check always runs, with the synced trust
// list and feed (the core's offline answer). With signal the service is asked too and the core's mergeOnline
// decides between them (scanner/online.py's rule). Without the service, the offline answer stands and says
// how old its data is.
import {
  ChunkUnavailable, NOT_FOUND, NO_DATA, answerOffline, answerOfflineByNumbers, mergeOnline, placelessAnswer, unplacedCode,
} from "../core/index.js";
import { fetchWithin } from "./net.js";

const ONLINE_TIMEOUT_MS = 6000;

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
    const failed = local instanceof ChunkUnavailable;
    if (online && online.status === 200) return mergeOnline(online.answer, failed ? null : local, { text, now: this.now() });
    if (failed) return offlineOnly(unplacedCode(text, this.now(), local.message));
    if (local) return local;
    return offlineOnly(unplacedCode(text, this.now()));
  }

  async lookup(registrationNo, recordNo) {
    const path = `/api/v1/certificates/${encodeURIComponent(registrationNo)}?record_no=${encodeURIComponent(recordNo)}`;
    let [local, online] = await Promise.all([
      this.#local((o, now) => answerOfflineByNumbers(registrationNo, recordNo, o.trust, o.source, now,
        { maxAgeMs: this.maxAgeMs() })),
      this.#ask(path, { method: "GET" }),
    ]);
    if (local instanceof ChunkUnavailable) local = undefined; // numbers need no signature check
    const ageSeconds = local ? local.ageSeconds : null;
    if (online && online.status === 200) {
      return { answer: online.answer, mode: "online", ageSeconds, notes: [], clockBehind: false };
    }
    if (online && online.status === 404) {
      return { answer: placelessAnswer("not_applicable", "not_found", NOT_FOUND, this.now(), "registry"), mode: "online",
        ageSeconds, notes: [], clockBehind: false };
    }
    if (local) return local;
    // null: the synced data holds the registration number with another record number (the service's 404)
    if (local === null) return offlineOnly(placelessAnswer("not_applicable", "not_found", NOT_FOUND, this.now()));
    return offlineOnly(placelessAnswer("not_applicable", "unknown", NO_DATA, this.now()));
  }

  /**
   * The core's offline answer; undefined when the phone has no data to answer from (or cannot read it); the
   * ChunkUnavailable error when a verifier could not be loaded (an error to show, not a bad signature).
   */
  async #local(run) {
    await this.settled();
    const offline = this.offline();
    if (!offline) return undefined;
    try {
      return await run(offline, this.now());
    } catch (error) {
      if (error instanceof ChunkUnavailable) return error;
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

function offlineOnly(answer) {
  return { answer, mode: "offline", ageSeconds: null, notes: [], clockBehind: false };
}
