// Inspection records: one per check, written to IndexedDB when the verdict shows, so nothing is lost when the
// app is closed. A record stays open while its verdict is on screen (the plate checks, a note, a photo may
// still be added) and is then sent to POST /api/v1/inspections under the id made here once: a batch whose
// answer never came is sent again and the service stores each id once (docs/api.md, Inspection records).
// Without an inspector token the records stay on the phone.
import { fetchWithin } from "./net.js";

const UPLOAD_TIMEOUT_MS = 20000;
const BATCH_RECORDS = 100;
const BATCH_BYTES = 8 * 1024 * 1024; // the service takes 20 MB a request; photos are up to 2 MB each
const FIRST_RETRY_MS = 2000;
const LAST_RETRY_MS = 60 * 1000; // a site with signal again is seen within a minute (and at once on `online`)
const WAITING = new Set(["open", "pending"]);
const SENT_FIELDS = ["id", "qr", "checked_at", "shown", "plate", "location", "note", "photo"];

/** A UUID made on the phone (crypto.randomUUID where the browser has it: secure contexts only). */
export function newId(crypto = globalThis.crypto) {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The device's time as RFC 3339 with its own offset (what the service asks for in checked_at). */
export function localTime(ms) {
  const d = new Date(ms);
  const offset = -d.getTimezoneOffset();
  const pad = (n, w = 2) => String(Math.abs(n)).padStart(w, "0");
  const sign = offset >= 0 ? "+" : "-";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:` +
    `${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
}

/** A new open record of what the inspector was shown. */
export function recordOf(text, checked, answer, marks, now) {
  const plate = (field) => ({ yes: "match", no: "mismatch" })[marks[field]] || "unchecked";
  const cert = answer.certificate || {};
  return {
    id: newId(), qr: text, checked_at: localTime(now),
    shown: { state: answer.status.state, signature: answer.signature.result, mode: checked.mode,
      data_age_s: checked.ageSeconds === null || checked.ageSeconds === undefined ? null : Math.round(checked.ageSeconds) },
    plate: { record_no: plate("record_no"), factory_serial: plate("factory_serial") },
    location: null, note: "", photo: null,
    label: cert.registration_no || null, verdict: answer.verdict, upload: "open", reason: "", flags: [],
  };
}

export class Inspections {
  /** token(): the inspector's token or null; onChange(records): after every change, for the badge and list. */
  constructor(store, { token, onChange, onRefused }) {
    this.store = store;
    this.token = token;
    this.onChange = onChange;
    this.onRefused = onRefused;
    this.running = null;
    this.retryMs = FIRST_RETRY_MS;
    this.timer = null;
  }

  /** On start: records left open by a closed app are complete as they are. */
  async start() {
    const open = (await this.store.records()).filter((r) => r.upload === "open").map((r) => r.id);
    await this.store.updateRecords(open, (r) => ({ ...r, upload: "pending" }));
    await this.changed();
    this.kick();
  }

  async save(record) {
    await this.store.putRecord(record);
    await this.changed();
  }

  /** Changes an open record (plate checks, note, photo, location); a sent one is not changed any more. */
  async amend(id, changes) {
    await this.store.updateRecords([id], (r) => (WAITING.has(r.upload) ? { ...r, ...changes } : null));
    await this.changed();
  }

  async close(id) {
    await this.store.updateRecords([id], (r) => (r.upload === "open" ? { ...r, upload: "pending" } : null));
    await this.changed();
    this.kick();
  }

  async all() {
    return (await this.store.records()).sort((a, b) => (a.checked_at < b.checked_at ? 1 : -1));
  }

  async changed() {
    this.onChange(await this.all());
  }

  /** Sends what waits, now (online again, enrolled, a record closed); failures retry with a growing delay. */
  kick() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.running) this.running = this.#send().finally(() => { this.running = null; });
    return this.running;
  }

  async #send() {
    const token = this.token();
    if (!token) return;
    for (;;) {
      const batch = batchOf((await this.store.records()).filter((r) => r.upload === "pending"));
      if (!batch.length) {
        this.retryMs = FIRST_RETRY_MS;
        return;
      }
      let response;
      let body;
      try {
        response = await fetchWithin("/api/v1/inspections", UPLOAD_TIMEOUT_MS, {
          method: "POST", cache: "no-store",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
          body: JSON.stringify({ inspections: batch.map(sent) }),
        });
        body = response.status === 200 || response.status === 422 ? await response.json() : null;
      } catch {
        body = undefined; // no answer (no network, cut off): the same ids go again later
      }
      if (response && (response.status === 401 || response.status === 403)) {
        this.onRefused(response.status);
        return; // the token is no good: the records wait for a new enrolment
      }
      if (!body || !Array.isArray(body.results)) {
        this.#retryLater();
        return;
      }
      const results = new Map(body.results.map((r) => [r.id, r]));
      await this.store.updateRecords(batch.map((r) => r.id), (r) => {
        const result = results.get(r.id);
        if (!result || !["stored", "duplicate", "refused"].includes(result.outcome)) return null;
        return { ...r, upload: result.outcome, reason: result.reason || "",
          flags: (result.flags || []).map((f) => f.code || f) };
      });
      await this.changed();
    }
  }

  #retryLater() {
    const delay = this.retryMs * (0.75 + Math.random() / 2);
    this.retryMs = Math.min(this.retryMs * 2, LAST_RETRY_MS);
    this.timer = setTimeout(() => this.kick(), delay);
  }
}

export const waiting = (records) => records.filter((r) => WAITING.has(r.upload)).length;

function sent(record) {
  return Object.fromEntries(SENT_FIELDS.map((k) => [k, record[k]]));
}

function batchOf(records) {
  const batch = [];
  let bytes = 0;
  for (const record of records.sort((a, b) => (a.checked_at < b.checked_at ? -1 : 1))) {
    const size = (record.photo ? record.photo.length : 0) + 2048;
    if (batch.length && (batch.length >= BATCH_RECORDS || bytes + size > BATCH_BYTES)) break;
    batch.push(record);
    bytes += size;
  }
  return batch;
}
