// The data panel: what the offline answers rest on, how old it is, and a button to refresh it.
import { $, age, bi, h, when } from "./dom.js";

export function renderDataPanel({ trust, dataTime, count, regions, lastSync, persisted, usage, maxAgeMs, now }) {
  const facts = [];
  const fact = (zh, en, value) => facts.push(h("div", { class: "fact" }, h("dt", {}, ...bi(zh, en)), h("dd", {}, value)));
  const warning = $("#data-warning");
  warning.hidden = true;
  if (!trust || dataTime === null) {
    fact("状态", "State", bi("尚未同步", "Not synced yet"));
  } else {
    fact("信任列表", "Trust list", `第 ${trust.serial} 号 · 根密钥 ${trust.root.kid}`);
    fact("发证机关", "Issuers", trust.issuers.map((i) => `${i.name} (${i.code})`).join("，"));
    fact("证书条目", "Entries", String(count));
    fact("覆盖地区", "Regions covered", regions === null ? bi("全国", "the whole country") : regions.join("，"));
    document.documentElement.dataset.regions = regions === null ? "" : regions.join(",");
    const ageMs = now - dataTime;
    const [zh, en] = age(ageMs / 1000);
    fact("数据截至", "Data as of", [when(dataTime), " ", h("span", { class: "en", lang: "en" }, `(${zh}前 · ${en} ago)`)]);
    if (ageMs > maxAgeMs) {
      warning.hidden = false;
      warning.replaceChildren(...bi("离线数据已过期，离线核验的状态将显示为“状态未知”。请联网同步。",
        "The offline data is out of date: offline checks answer “status unknown”. Sync with signal."));
    } else if (ageMs < 0) {
      warning.hidden = false;
      warning.replaceChildren(...bi("手机时钟早于数据时间，请校准时间。", "This phone's clock is behind the data: check it."));
    }
  }
  fact("上次同步", "Last sync", lastSync ? when(lastSync) : "—");
  fact("存储", "Storage", [...bi(persisted ? "已设为持久保存" : "未获持久保存（空间不足时可能被清除）",
    persisted ? "persistent" : "not persistent (may be cleared when space runs low)"),
  usage ? ` · ${(usage / 1048576).toFixed(1)} MB` : ""]);
  $("#data-facts").replaceChildren(...facts);
}
