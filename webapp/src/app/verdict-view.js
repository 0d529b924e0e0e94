// The verdict screen: icon and words first, then what the inspector compares with the crane's own plate.
// #verdict carries the stable hooks (data-state, data-signature, data-mode, data-final) that tests and
// assistive technology read; its words are announced as they settle (role=status).
import { SIGNATURE_LABELS, withMismatches } from "../core/index.js";
import { $, age, bi, h, icon, when } from "./dom.js";
import { CATEGORY_EN, headline } from "./words.js";

const PLATE_FIELDS = [
  ["record_no", "产权备案编号", "Property record no."],
  ["factory_serial", "出厂编号", "Factory serial"],
];
const SOURCE_WORDS = { online: ["联网核验 · 登记库实时", "Online · live registry"] };

export class VerdictView {
  constructor() {
    this.section = $("#result");
    this.verdict = $("#verdict");
    this.body = $("#result-body");
    this.checked = null;
    this.marks = {};
    this.onMarks = () => {}; // the plate checks changed (the record of this check follows them)
  }

  /** A code is in view and being checked: whatever was shown before is no longer its verdict. */
  pending(text) {
    this.checked = null;
    this.marks = {};
    Object.assign(this.verdict.dataset, { final: "false", state: "", signature: "", mode: "" });
    this.verdict.className = "verdict tone-unknown";
    this.verdict.replaceChildren(h("h1", {}, icon("question"), h("span", { class: "word", id: "verdict-word" }, "核验中"), " ",
      h("span", { class: "en", lang: "en" }, "Checking…")), h("p", { class: "detail mono" }, short(text)));
    this.body.replaceChildren();
    this.section.hidden = false;
    $("#scanner").hidden = true; // the verdict is the first thing on the screen
    window.scrollTo({ top: 0 });
  }

  show(checked) {
    this.checked = checked;
    this.marks = {};
    this.#render();
  }

  /** The answer as shown now, the plate checks applied. */
  answer() {
    return this.#answer();
  }

  #answer() {
    const wrong = PLATE_FIELDS.map(([field]) => field).filter((field) => this.marks[field] === "no");
    return wrong.length ? withMismatches(this.checked.answer, wrong) : this.checked.answer;
  }

  #render() {
    const { mode, ageSeconds, notes, clockBehind } = this.checked;
    const answer = this.#answer();
    const head = headline(answer);
    const status = answer.status;
    const cert = answer.certificate || {};
    Object.assign(this.verdict.dataset, {
      state: status.state, signature: answer.signature.result, mode, final: "true", tone: head.tone,
      ok: String(Boolean(answer.verdict.ok)),
    });
    this.verdict.className = `verdict tone-${head.tone}`;
    const word = h("span", { class: head.zh.length > 5 ? "word long" : "word", id: "verdict-word" }, head.zh);
    const since = ["ended", "superseded", "revoked", "suspended"].includes(status.state) && status.since
      ? h("p", { class: "since" }, "自 ", h("time", { datetime: status.since }, when(status.since)), " 起 ",
        h("span", { class: "en", lang: "en" }, `since ${when(status.since)}`), status.reason ? [h("br"), status.reason] : null)
      : null;
    const regno = cert.registration_no
      ? h("p", { class: "regno" }, ...bi("使用登记编号", "Registration no."), " ", h("strong", {}, cert.registration_no),
        cert.version > 1 ? [" ", ...bi(`第${cert.version}版`, `v${cert.version}`)] : null)
      : null;
    this.verdict.replaceChildren(...[
      h("h1", {}, icon(head.icon), word, " ", h("span", { class: "en", lang: "en" }, head.en)),
      h("p", { class: "detail" }, answer.verdict.zh, " ", h("span", { class: "en", lang: "en" }, answer.verdict.en)),
      since, ["unknown", "not_found"].includes(status.state) && status.reason ? h("p", { class: "since" }, status.reason) : null,
      regno, this.#badge(mode, ageSeconds),
      clockBehind ? h("p", { class: "clock" }, ...bi("手机时钟早于数据时间，请校准时间", "This phone's clock is behind the data: check it")) : null,
    ].filter(Boolean));
    this.body.replaceChildren(...this.#cards(answer, cert, notes));
  }

  #badge(mode, ageSeconds) {
    const known = ageSeconds !== null && ageSeconds !== undefined;
    const [zh, en] = known ? age(ageSeconds) : ["", ""];
    if (mode === "online") {
      // the offline data's age is shown online too: it is what the next check without signal will rest on
      const [szh, sen] = SOURCE_WORDS.online;
      return h("p", { class: "badge", dataset: { mode } },
        ...bi(known ? `${szh} · 离线数据 ${zh}前` : szh, known ? `${sen} · offline data ${en} old` : sen));
    }
    return h("p", { class: "badge", dataset: { mode } },
      ...bi(known ? `离线 · 数据 ${zh}前` : "离线 · 无数据", known ? `Offline · data ${en} old` : "Offline · no data"));
  }

  #cards(answer, cert, notes) {
    const cards = [];
    const eq = cert.equipment || {};
    if (notes && notes.length) cards.push(h("section", { class: "notice", role: "note" }, ...notes.map((n) => h("p", {}, n))));
    if (["invalid", "key_revoked", "key_not_valid_at_issue"].includes(answer.signature.result) && cert.registration_no) {
      cards.push(h("p", { class: "notice warning", role: "note" }, ...bi("签名未通过核验，以下信息不能证明证书有效。",
        "The signature did not pass: nothing below shows that this certificate is valid.")));
    }
    if (eq.record_no || eq.factory_serial) cards.push(this.#plate(eq));
    const project = cert.project || {};
    const facts = [
      fact("设备类别", "Category", eq.category ? [eq.category_zh || eq.category, " ", h("span", { class: "en", lang: "en" }, CATEGORY_EN[eq.category] || "")] : null),
      fact("规格型号", "Model", eq.model),
      fact("工程名称", "Project", project.name),
      fact("安装位置", "Installed at", project.position),
      fact("使用单位", "User", (cert.user || {}).name),
      fact("状态说明", "Reason", answer.status.reason),
      fact("发证机关", "Issuer", (answer.signature.issuer || {}).name || (cert.issuer || {}).name),
      fact("电子签名", "Signature", [...bi(...(SIGNATURE_LABELS[answer.signature.result] || ["", ""])),
        answer.signature.alg ? ` · ${answer.signature.alg}` : ""]),
      fact("核验时间", "Checked at", when(answer.checked_at)),
    ].filter(Boolean);
    cards.push(h("section", { class: "card", "aria-labelledby": "cert-h" }, h("h2", { id: "cert-h" }, ...bi("证书信息", "Certificate")),
      h("dl", {}, ...facts)));
    return cards;
  }

  #plate(eq) {
    const keys = PLATE_FIELDS.filter(([field]) => eq[field]).map(([field, zh, en]) => {
      const mark = this.marks[field];
      const button = (value, cls, words) => h("button", { type: "button", class: cls, "aria-pressed": String(mark === value),
        onclick: () => {
          this.marks[field] = mark === value ? undefined : value;
          this.#render();
          this.onMarks();
        } }, ...bi(...words));
      return h("div", { class: "key", dataset: { field, match: mark || "" } },
        h("dt", {}, ...bi(zh, en)), h("dd", {}, eq[field]),
        h("div", { class: "answers" }, button("yes", "yes", ["与铭牌一致", "Matches the plate"]),
          button("no", "no", ["不一致", "Differs"])));
    });
    return h("section", { class: "card plate", "aria-labelledby": "plate-h" },
      h("h2", { id: "plate-h" }, ...bi("核对设备铭牌", "Compare with the crane's plate")), h("dl", {}, ...keys));
  }
}

function fact(zh, en, value) {
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return null;
  return h("div", { class: "fact" }, h("dt", {}, ...bi(zh, en)), h("dd", {}, value));
}

function short(text) {
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
