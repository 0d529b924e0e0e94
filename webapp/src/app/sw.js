// The service worker of /scan/: caches the app shell and the decoder at install, takes over the open page at
// once, and answers from that cache when the network cannot. __VERSION__ and __SHELL__ come from build.mjs;
// a new build is a new version: it installs beside the old one, takes over, and the page announces it.
/* global __VERSION__, __SHELL__ */
const CACHE = `scan-${__VERSION__}`;
const SHELL = __SHELL__;
const NAVIGATION_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("scan-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function fromNetwork(request, timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(request, { signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

async function networkFirst(request, fallbackUrl) {
  try {
    const response = await fromNetwork(request, NAVIGATION_TIMEOUT_MS);
    if (response.status < 500) return response;
    throw new Error(`HTTP ${response.status}`);
  } catch (error) {
    const cached = await caches.match(fallbackUrl, { cacheName: CACHE, ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirst(request) {
  return (await caches.match(request, { cacheName: CACHE })) || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith("/scan/")) return;
  if (url.pathname.startsWith("/scan/assets/")) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, "/scan/"));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
});

self.addEventListener("message", (event) => {
  if (!event.data || event.data.type !== "status") return;
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const missing = [];
    for (const url of SHELL) if (!(await cache.match(url))) missing.push(url);
    event.source.postMessage({ type: "status", version: __VERSION__, cached: missing.length === 0, missing });
  })());
});
