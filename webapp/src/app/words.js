// The one or two words read first on the verdict screen, with their tone and icon: the public pages'
// headline rules (verify_api/pages.py) worded as issue 12 asks. Colour is never alone: icon and words say it too.
import { STATE_LABELS } from "../core/index.js";

const ICONS = { ok: "check", warn: "warn", bad: "cross", unknown: "question" };

const SIGNATURE_HEADLINES = {
  invalid: ["签名无效", "Signature invalid"],
  key_revoked: ["签名无效", "Signature invalid"],
  key_not_valid_at_issue: ["签名无效", "Signature invalid"],
  unknown_key: ["签名无法核验", "Signature cannot be verified"],
};

const STATE_TONES = {
  valid: "ok", paper_legacy: "warn", ended: "bad", superseded: "bad", revoked: "bad", suspended: "bad",
  not_found: "unknown", unknown: "unknown",
};

const STATE_WORDS = { ...STATE_LABELS, superseded: ["已被新版本替代", "Superseded by a new version"] };

export function headline(answer) {
  const result = answer.signature.result;
  const state = answer.status.state;
  if (result === "malformed") return make("unknown", "无法识别", "Not recognised");
  if (SIGNATURE_HEADLINES[result]) return make("bad", ...SIGNATURE_HEADLINES[result]);
  if (answer.mismatches && answer.mismatches.length) return make("bad", "与铭牌不一致", "Does not match the plate");
  if (state === "valid" && result === "not_applicable") return make("warn", "登记有效", "Registered");
  return make(STATE_TONES[state] || "unknown", ...(STATE_WORDS[state] || STATE_WORDS.unknown));
}

function make(tone, zh, en) {
  return { tone, icon: ICONS[tone], zh, en };
}

export const CATEGORY_EN = {
  tower_crane: "Tower crane", construction_hoist: "Construction hoist", material_hoist: "Material hoist",
  gantry_crane: "Gantry crane",
};
