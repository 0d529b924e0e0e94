// Building the page with DOM calls only: no HTML strings, nothing for the CSP to refuse.

export const $ = (selector, root = document) => root.querySelector(selector);

/** h("p", {class: "x", dataset: {a: "1"}}, "text", child) -> the element. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/** Chinese first, English beside it in a span the stylesheet makes quieter. */
export function bi(zh, en) {
  return [zh, " ", h("span", { class: "en", lang: "en" }, en)];
}

const SVG = "http://www.w3.org/2000/svg";
const ICON_PATHS = { // the same drawings as the public pages' verdict icons (verify_api/templates/_macros.html)
  check: [["circle", { cx: 24, cy: 24, r: 20.5 }], ["path", { d: "M14 24.5l7 7 13-14" }]],
  cross: [["circle", { cx: 24, cy: 24, r: 20.5 }], ["path", { d: "M16.5 16.5l15 15M31.5 16.5l-15 15" }]],
  warn: [["path", { d: "M24 4.5L45 42H3z" }], ["path", { d: "M24 18v11M24 35.5v.5" }]],
  question: [["circle", { cx: 24, cy: 24, r: 20.5 }], ["path", { d: "M18 19a6 6 0 1 1 9 5.2c-1.8 1-3 2.2-3 4.3v.5M24 35v.5" }]],
};

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  const attrs = { class: "icon", "data-icon": name, viewBox: "0 0 48 48", width: 48, height: 48, "aria-hidden": "true",
    focusable: "false", fill: "none", stroke: "currentColor", "stroke-width": 5, "stroke-linecap": "round",
    "stroke-linejoin": "round" };
  for (const [k, v] of Object.entries(attrs)) svg.setAttribute(k, String(v));
  for (const [tag, shape] of ICON_PATHS[name]) {
    const part = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(shape)) part.setAttribute(k, String(v));
    svg.append(part);
  }
  return svg;
}

const CHINA = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  hourCycle: "h23",
});

/** A moment as inspectors read it, in China time: 2026-11-24 18:56. Dates alone stay as given. */
export function when(value) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value === "string" && value.length <= 10) return value;
  const moment = new Date(value);
  if (Number.isNaN(moment.getTime())) return String(value);
  const parts = Object.fromEntries(CHINA.formatToParts(moment).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** How old, in words: 3 分钟 / 3 min. */
export function age(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 3600) return [`${Math.floor(s / 60)} 分钟`, `${Math.floor(s / 60)} min`];
  if (s < 172800) return [`${Math.floor(s / 3600)} 小时`, `${Math.floor(s / 3600)} h`];
  return [`${Math.floor(s / 86400)} 天`, `${Math.floor(s / 86400)} days`];
}
