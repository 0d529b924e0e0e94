// Sync, as `crane-scan sync` does: the trust list first, checked against the pinned root (the pin comes with
// the app from the service's configuration on the first sync and moves only along a cross-signed rotation),
// then the status feed from the stored cursor, every page's signature checked before anything is stored.
import { advanceFeed, checkTrustListUpdate, verifyFeedPage } from "../core/index.js";
import { fetchWithin } from "./net.js";

const PAGE = 5000;
const TIMEOUT_MS = 20000;

async function fetchText(url) {
  const response = await fetchWithin(url, TIMEOUT_MS, { cache: "no-store" });
  if (!response.ok) throw new Error(`HTTP ${response.status} ${url}`);
  return response.text();
}

/**
 * -> {trust, pages, entries}; throws on a network failure or refused data (nothing refused is stored).
 * `regions`: division-code prefixes whose feeds are synced, each from its own cursor; null: the whole feed.
 */
export async function sync(store, config, { regions = null, now = () => Date.now(), onPage = () => {} } = {}) {
  const started = now();
  const pin = (await store.meta("pin")) || config.root.spki;
  const storedDocument = (await store.meta("trust")) || null;
  const document = await fetchText("/api/v1/trust-list");
  const trust = await checkTrustListUpdate(document, pin, storedDocument);
  await store.setMeta({ trust: document, pin: trust.root.publicKey, trust_serial: trust.serial });

  const fresh = (await store.rowCount()) === 0 ? new Set() : null; // a first sync need not read before writing
  let pages = 0;
  let entries = 0;
  for (const region of regions === null ? [null] : regions) {
    let position = await store.position(region);
    const scope = region === null ? "" : `&region=${encodeURIComponent(region)}`;
    for (;;) {
      const since = position ? position.cursor : "0";
      const signed = JSON.parse(await fetchText(`/api/v1/status-feed?since=${encodeURIComponent(since)}&limit=${PAGE}${scope}`));
      const page = await verifyFeedPage(signed, trust);
      const advanced = advanceFeed(position, page, since, region); // the signed page names the region asked for
      position = { cursor: advanced.cursor, generatedAt: advanced.generatedAt };
      await store.storePage(since, signed, advanced.entries, position, fresh, region);
      pages += 1;
      entries += advanced.entries.length;
      onPage({ pages, entries });
      if (!advanced.more) break;
    }
  }
  await store.setMeta({ last_sync: now(), last_sync_started: started });
  return { trust, pages, entries };
}
