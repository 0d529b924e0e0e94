// The phone as an inspector's device: the enrolment QR (crane-verify token create --enrol) exchanged once for
// an inspector token kept in IndexedDB, sign-out, and the card with the records' history and what waits.
// Scanning never needs any of it; without a token the records stay on the phone.
import { $, bi, h, when } from "./dom.js";
import { fetchWithin } from "./net.js";
import { waiting } from "./records.js";

// <PUBLIC URL>/E/<26 base32 characters>, as verify_api/inspections/access.py writes it: not a certificate
const ENROLMENT = /^(?:https?:\/\/\S+\/E\/)?([A-Z2-7]{26})$/i;
const TOKEN_KEY = "inspector";
const OUTCOME_WORDS = {
  open: ["待完成", "open"], pending: ["待上传", "waiting"], stored: ["已上传", "uploaded"],
  duplicate: ["已上传", "uploaded"], refused: ["被拒收", "refused"],
};

export const isEnrolmentCode = (text) => /^https?:\/\/\S+\/E\/[A-Z2-7]{26}$/i.test(text.trim());

export class Inspector {
  constructor(store) {
    this.store = store;
    this.held = null; // {token, name, region, expires_at}
    this.tried = new Set(); // codes already exchanged or refused: a camera still on the QR does not resend
  }

  async load() {
    this.held = (await this.store.meta(TOKEN_KEY)) || null;
    this.#mark();
  }

  token() {
    return this.held ? this.held.token : null;
  }

  region() {
    return this.held ? this.held.region : null;
  }

  /** Exchanges an enrolment code (the QR text or the bare code) -> [zh, en] to tell the inspector. */
  async enrol(text) {
    const code = text.trim().replace(ENROLMENT, "$1").toUpperCase();
    if (this.tried.has(code)) return null;
    this.tried.add(code);
    let response;
    try {
      response = await fetchWithin("/api/v1/enrol", 10000, { method: "POST", cache: "no-store",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }) });
    } catch {
      this.tried.delete(code);
      return ["登记需要联网，请在有信号时再扫一次", "Enrolment needs signal: scan the code again with signal"];
    }
    if (response.status !== 200) {
      return ["登记码无效、已使用或已过期，请让管理员重新生成", "The enrolment code is unknown, used or expired: ask for a new one"];
    }
    const body = await response.json();
    this.held = { token: body.token, name: body.name, region: body.region, expires_at: body.expires_at, role: body.role };
    await this.store.setMeta({ [TOKEN_KEY]: this.held });
    this.#mark();
    return [`已登记为检查员 ${body.name}（${body.region}）`, `Enrolled as inspector ${body.name} (${body.region})`];
  }

  async signOut() {
    this.held = null;
    await this.store.clearMeta(TOKEN_KEY);
    this.#mark();
  }

  #mark() {
    document.documentElement.dataset.enrolled = String(Boolean(this.held));
    const status = $("#inspector-status");
    status.replaceChildren(...(this.held
      ? bi(`检查员 ${this.held.name} · 地区 ${this.held.region}`, `Inspector ${this.held.name}, region ${this.held.region}`)
      : bi("未登记：核验记录只保存在本机。扫描管理员给的登记二维码即可登记。",
        "Not enrolled: records stay on this phone. Scan the enrolment QR from your administrator.")));
    $("#sign-out").hidden = !this.held;
  }
}

/** The badge of what waits (data-pending) and the history list, newest first. */
export function renderRecords(records) {
  const pending = waiting(records);
  document.documentElement.dataset.pending = String(pending);
  const badge = $("#pending-badge");
  badge.hidden = pending === 0;
  badge.replaceChildren(...bi(`${pending} 条待上传`, `${pending} waiting`));
  $("#history").replaceChildren(...records.slice(0, 50).map((r) => h("li", { dataset: { upload: r.upload } },
    h("span", { class: "mono" }, r.label || "—"), " ",
    h("span", {}, r.verdict ? `${r.verdict.zh} ` : ""), h("span", { class: "hint" }, when(r.checked_at)), " ",
    h("span", { class: "outcome" }, ...bi(...OUTCOME_WORDS[r.upload])),
    r.flags && r.flags.length ? h("span", { class: "hint" }, ` ${r.flags.join(", ")}`) : null)));
}
