// The inspector's scanner at /scan/: wires the camera, the decoder, the checks, the offline data and the
// service worker together. Every part that a browser may refuse is optional; scanning is not.
import "./app.css";
import { DEFAULT_MAX_AGE_MS, OfflineData, loadTrustList } from "../core/index.js";
import { Camera, cameraProblem } from "./camera.js";
import { Checker } from "./checker.js";
import { renderDataPanel } from "./data-panel.js";
import { OfflineStore, persistStorage, storageUsed } from "./db.js";
import { Decoder } from "./decoder.js";
import { $, bi } from "./dom.js";
import { feedbackWanted, setFeedbackWanted, signal } from "./feedback.js";
import { Inspector, isEnrolmentCode, renderRecords } from "./inspector.js";
import { fetchWithin } from "./net.js";
import { Inspections, recordOf } from "./records.js";
import { ScanLoop } from "./scanloop.js";
import { registerWorker } from "./sw-client.js";
import { sync } from "./sync.js";
import { VerdictView } from "./verdict-view.js";

const SYNC_WAIT_MS = 15000; // a code scanned during a sync waits for its data this long at most
const CAMERA_KEY = "crane-scan-camera";
const RESYNC_AFTER_MS = 15 * 60 * 1000; // a phone brought back to the app with signal refreshes older data

const app = {
  opened: null, config: null, store: null, trust: null, source: null, persisted: false, syncing: null, synced: false,
  worker: null, workerReady: false, camera: null, loop: null, view: null, checker: null,
  inspector: null, records: null, openRecord: null, openTimer: null,
};
const OPEN_RECORD_MS = 15000; // a note or photo may be added this long after a verdict (longer while typing)
const LOCATION_KEY = "crane-scan-location";
const PHOTO_RECORD_EDGE = 1600; // a record's photo: JPEG under the service's 2 MB

function say(element, zh, en) {
  element.replaceChildren(...bi(zh, en));
  element.hidden = false;
}

// --- offline data --------------------------------------------------------------------------------------

async function loadConfig() {
  try {
    const response = await fetchWithin("/scan/config.json", 8000, { cache: "no-cache" });
    if (response.ok) return response.json();
  } catch { /* no network and no cached copy: the stored pin still works */ }
  return null;
}

async function loadStored() {
  const document = await app.store.meta("trust");
  const pin = await app.store.meta("pin");
  if (document && pin) {
    try {
      app.trust = await loadTrustList(document, pin);
    } catch {
      app.trust = null; // a stored list that no longer checks is not used; the next sync replaces it
    }
  }
  app.source = await app.store.source(await wantedRegions());
  app.synced = Boolean(app.trust && app.source && (await app.store.meta("last_sync")));
}

/** The regions whose data this phone keeps: the inspector's choice, else the enrolled region, else all (null). */
async function wantedRegions() {
  const chosen = await app.store.meta("regions");
  if (Array.isArray(chosen)) return chosen.length ? chosen : null;
  const enrolled = app.inspector && app.inspector.region();
  return enrolled ? [enrolled] : null;
}

async function syncNow() {
  if (app.syncing) return app.syncing;
  const message = $("#sync-message");
  say(message, "正在同步…", "Syncing…");
  app.syncing = (async () => {
    performance.mark("scan:sync-start");
    try {
      if (!app.config) app.config = await loadConfig();
      if (!app.config) throw new Error("no configuration");
      const regions = await wantedRegions();
      const result = await sync(app.store, app.config, {
        regions,
        onPage: ({ entries }) => say(message, `正在同步… ${entries} 条`, `Syncing… ${entries} entries`),
      });
      app.trust = result.trust;
      app.source = await app.store.source(regions);
      app.synced = true;
      performance.mark("scan:sync-end", { detail: { pages: result.pages, entries: result.entries } });
      say(message, `同步完成：${result.entries} 条新记录`, `Synced: ${result.entries} new entries`);
    } catch (error) {
      say(message, `同步失败，继续使用已有数据（${error.message}）`, "Sync failed; the data already here is kept");
    } finally {
      app.syncing = null;
      await refreshPanel();
      markOfflineReady();
    }
  })();
  return app.syncing;
}

async function refreshPanel() {
  renderDataPanel({
    trust: app.trust, dataTime: app.source ? app.source.dataTime : null, count: app.source ? await app.source.count() : 0,
    regions: app.source ? app.source.regions : null,
    lastSync: await app.store.meta("last_sync"), persisted: app.persisted, usage: await storageUsed(),
    maxAgeMs: maxAgeMs(), now: Date.now(),
  });
}

function maxAgeMs() {
  return app.config && app.config.max_age_s ? app.config.max_age_s * 1000 : DEFAULT_MAX_AGE_MS;
}

function markOfflineReady() {
  document.documentElement.dataset.offlineReady = String(Boolean(app.synced && app.workerReady));
}

const within = (promise, ms) => Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))]);

/** Before a check: the data it rests on, and on a first visit the app's own offline copy (so that a phone
 * closed right after its first verdict still opens with no signal next time); each wait is bounded. */
async function settled() {
  await app.opened;
  await Promise.all([app.syncing ? within(app.syncing, SYNC_WAIT_MS) : null, within(app.worker, SYNC_WAIT_MS)]);
}

// --- checking a code -------------------------------------------------------------------------------------

async function checkText(text) {
  if (isEnrolmentCode(text)) {
    await enrol(text);
    return;
  }
  closeRecord();
  app.view.pending(text);
  const checked = await app.checker.check(text);
  app.view.show(checked);
  signal(Boolean(checked.answer.verdict.ok));
  if (checked.mode === "online" && app.records) app.records.kick(); // the service answers: what waits can go
  await saveRecord(text, checked);
}

// --- records and enrolment ---------------------------------------------------------------------------------

async function saveRecord(text, checked) {
  if (!app.records) return;
  const record = recordOf(text, checked, app.view.answer(), app.view.marks, Date.now());
  try {
    await app.records.save(record);
  } catch {
    return; // storage refused: the verdict stands, only the record is missing
  }
  app.openRecord = record.id;
  $("#note").value = "";
  $("#record-message").hidden = true;
  $("#record-extra").hidden = false;
  holdOpen();
  if (localStorage.getItem(LOCATION_KEY) === "on" && navigator.geolocation) {
    navigator.geolocation.getCurrentPosition((p) => app.records.amend(record.id, { location: {
      lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy } }), () => {},
    { timeout: 8000, maximumAge: 60000 });
  }
}

function holdOpen() {
  clearTimeout(app.openTimer);
  app.openTimer = setTimeout(closeRecord, OPEN_RECORD_MS);
}

function closeRecord() {
  clearTimeout(app.openTimer);
  const id = app.openRecord;
  app.openRecord = null;
  $("#record-extra").hidden = true;
  if (id && app.records) app.records.close(id);
}

function amendOpen(changes) {
  if (!app.openRecord) return;
  holdOpen();
  app.records.amend(app.openRecord, changes);
}

async function enrol(text) {
  const message = $("#enrol-message");
  if (!app.inspector) {
    say(message, "此浏览器不能保存数据（隐私模式？），无法登记", "This browser cannot keep data (private mode?): no enrolment");
    return;
  }
  const words = await app.inspector.enrol(text);
  if (words) say(message, ...words);
  message.scrollIntoView({ block: "center" });
  if (app.inspector.token()) {
    app.records.kick();
    if (!Array.isArray(await app.store.meta("regions"))) regionsChanged(); // the enrolled region is the default
  }
  if (app.loop.frozen) scanAgain();
}

/** A picture file drawn on a canvas, its longer edge at most `edge` pixels; the canvas and its context. */
async function drawnWithin(file, edge, contextOptions = {}) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, edge / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const context = canvas.getContext("2d", contextOptions);
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return { canvas, context };
}

async function jpegOf(file) {
  const { canvas } = await drawnWithin(file, PHOTO_RECORD_EDGE);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Another choice of regions: the data kept so far is dropped and the chosen regions are synced afresh. */
async function regionsChanged() {
  const regions = await wantedRegions();
  $("#regions").value = regions ? regions.join(",") : "";
  if (app.syncing) await app.syncing;
  await app.store.clearFeed();
  app.source = null;
  app.synced = false; // not ready offline until the chosen regions are in
  markOfflineReady();
  await refreshPanel();
  return syncNow();
}

function wireRegions() {
  $("#regions-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const list = [...new Set($("#regions").value.split(/[\s,，、]+/).filter(Boolean))];
    if (!list.every((r) => /^\d{2}(\d{2}){0,2}$/.test(r))) {
      say($("#sync-message"), "地区须为 2、4 或 6 位行政区划代码前缀，如 21 或 2101", "Regions are division-code prefixes of 2, 4 or 6 digits, such as 21 or 2101");
      return;
    }
    await app.store.setMeta({ regions: list });
    await regionsChanged();
  });
}

function wireRecords() {
  $("#note").addEventListener("input", (event) => amendOpen({ note: event.target.value }));
  const photo = $("#record-photo");
  photo.addEventListener("change", async () => {
    const file = photo.files && photo.files[0];
    photo.value = "";
    const id = app.openRecord;
    if (!file || !id) return;
    holdOpen();
    try {
      await app.records.amend(id, { photo: await jpegOf(file) });
      say($("#record-message"), "照片已附在记录", "Photo added to the record");
    } catch {
      say($("#record-message"), "无法读取这张照片", "This photo cannot be read");
    }
  });
  app.view.onMarks = () => {
    const plate = (field) => ({ yes: "match", no: "mismatch" })[app.view.marks[field]] || "unchecked";
    amendOpen({ plate: { record_no: plate("record_no"), factory_serial: plate("factory_serial") },
      verdict: app.view.answer().verdict });
  };
  const located = $("#record-location");
  located.checked = localStorage.getItem(LOCATION_KEY) === "on";
  located.addEventListener("change", () => {
    localStorage.setItem(LOCATION_KEY, located.checked ? "on" : "off");
    if (located.checked && navigator.geolocation) navigator.geolocation.getCurrentPosition(() => {}, () => {});
  });
  $("#sign-out").addEventListener("click", async () => {
    await app.inspector.signOut();
    $("#enrol-message").hidden = true;
    if (!Array.isArray(await app.store.meta("regions"))) regionsChanged();
  });
}

async function lookup(registrationNo, recordNo) {
  app.loop && app.loop.freeze();
  app.view.pending(`${registrationNo} · ${recordNo}`);
  const checked = await app.checker.lookup(registrationNo, recordNo);
  app.view.show(checked);
  signal(Boolean(checked.answer.verdict.ok));
}

// --- camera ----------------------------------------------------------------------------------------------

async function startCamera(deviceId) {
  const finder = $("#viewfinder");
  const message = $("#camera-message");
  try {
    await app.camera.start(deviceId || localStorage.getItem(CAMERA_KEY));
  } catch (error) {
    finder.dataset.camera = "failed";
    say(message, ...cameraProblem(error));
    return;
  }
  message.hidden = true;
  finder.dataset.camera = app.loop.frozen ? "frozen" : "live";
  showCameraControls();
  app.loop.start();
}

function showCameraControls() {
  const { torch, zoom } = app.camera.capabilities();
  const torchButton = $("#torch");
  torchButton.hidden = !torch;
  torchButton.setAttribute("aria-pressed", "false");
  const zoomControl = $("#zoom-control");
  zoomControl.hidden = !zoom;
  if (zoom) Object.assign($("#zoom"), { min: zoom.min, max: zoom.max, step: zoom.step, value: zoom.min });
  app.camera.cameras().then((cameras) => {
    const picker = $("#camera-picker");
    $("#camera-choice").hidden = cameras.length < 2;
    picker.replaceChildren(...cameras.map((c, i) => {
      const option = new Option(c.label || `摄像头 ${i + 1} Camera ${i + 1}`, c.deviceId);
      option.selected = c.deviceId === app.camera.deviceId;
      return option;
    }));
  }).catch(() => {});
}

function wireCameraControls() {
  const torch = $("#torch");
  torch.addEventListener("click", async () => {
    const on = !app.camera.torchOn;
    try {
      await app.camera.setTorch(on);
      torch.setAttribute("aria-pressed", String(on));
    } catch {
      torch.hidden = true; // offered but refused: not offered after all
    }
  });
  $("#zoom").addEventListener("input", (event) => app.camera.setZoom(Number(event.target.value)).catch(() => {}));
  $("#camera-picker").addEventListener("change", (event) => {
    localStorage.setItem(CAMERA_KEY, event.target.value); // the inspector's choice, for the next open too
    startCamera(event.target.value);
  });
  const sound = $("#sound");
  sound.checked = feedbackWanted();
  sound.addEventListener("change", () => setFeedbackWanted(sound.checked));
  // A hidden page gives the camera back (other apps, battery); it comes back when the page does.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      closeRecord();
      app.loop.stop();
      app.camera.stop();
      $("#viewfinder").dataset.camera = "off";
    } else if (!app.camera.running) {
      startCamera();
    }
  });
}

// --- other inputs ----------------------------------------------------------------------------------------

const PHOTO_EDGE = 2560;

async function photoPixels(file) {
  const { canvas, context } = await drawnWithin(file, PHOTO_EDGE, { willReadFrequently: true });
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

function scanAgain() {
  closeRecord();
  $("#result").hidden = true;
  $("#scanner").hidden = false;
  $("#viewfinder").dataset.camera = app.camera.running ? "live" : "off";
  app.loop.resume();
  if (!app.camera.running) startCamera();
}

function wireInputs(decoder) {
  const photo = $("#photo");
  const photoMessage = $("#photo-message");
  photo.addEventListener("change", async () => {
    const file = photo.files && photo.files[0];
    photo.value = "";
    if (!file) return;
    say(photoMessage, "正在识别照片…", "Reading the photo…");
    app.loop.freeze();
    app.view.pending(file.name); // what was shown before is not this photo's verdict
    let codes = [];
    try {
      codes = (await decoder.decodeImage(await photoPixels(file))).codes;
    } catch { /* a format the browser cannot draw: the decoder may still read the file itself */ }
    if (!codes.length) codes = (await decoder.decodeFile(file)).codes;
    if (!codes.length) {
      scanAgain();
      say(photoMessage, "照片中未找到二维码，请拍得更近、更清楚后重试。", "No QR code found in the photo: take it closer and sharper.");
      photoMessage.scrollIntoView({ block: "center" });
      return;
    }
    photoMessage.hidden = true;
    await checkText(codes[0].text);
  });
  $("#text-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    app.loop.freeze();
    await checkText(text);
  });
  $("#lookup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const registrationNo = form.registration_no.value.trim();
    const recordNo = form.record_no.value.trim();
    if (registrationNo && recordNo) await lookup(registrationNo, recordNo);
  });
  $("#scan-next").addEventListener("click", () => {
    scanAgain();
    window.scrollTo({ top: 0 });
  });
  $("#sync-now").addEventListener("click", () => syncNow());
}

// --- start -----------------------------------------------------------------------------------------------

function netBadge() {
  const badge = $("#net-badge");
  const online = navigator.onLine;
  badge.dataset.mode = online ? "online" : "offline";
  badge.replaceChildren(...bi(online ? "在线" : "离线", online ? "online" : "offline"));
  badge.hidden = false;
}

async function main() {
  Object.assign(document.documentElement.dataset, { offlineReady: "false", enrolled: "false", pending: "0" });
  const decoder = new Decoder();
  app.view = new VerdictView();
  app.camera = new Camera($("#video"));
  app.loop = new ScanLoop($("#video"), decoder, (text) => {
    $("#viewfinder").dataset.camera = "frozen";
    checkText(text);
  });
  app.checker = new Checker({ offline: () => (app.trust ? { trust: app.trust, source: app.source || OfflineData.empty() } : null),
    settled, maxAgeMs });
  wireCameraControls();
  wireInputs(decoder);
  wireRecords();
  wireRegions();
  netBadge();
  window.addEventListener("online", () => {
    netBadge();
    syncNow();
    if (app.records) app.records.kick();
  });
  document.addEventListener("visibilitychange", async () => {
    if (document.visibilityState !== "visible" || !app.store || !navigator.onLine) return;
    if (Date.now() - ((await app.store.meta("last_sync")) || 0) > RESYNC_AFTER_MS) syncNow();
  });
  window.addEventListener("offline", netBadge);

  const camera = startCamera();
  app.worker = registerWorker({ onNewVersion: () => { $("#update").hidden = false; } })
    .then((status) => { app.workerReady = Boolean(status && status.cached); markOfflineReady(); })
    .catch(() => {});
  $("#update-reload").addEventListener("click", () => window.location.reload());

  app.opened = openData();
  if (await app.opened) {
    await startRecords();
    persistStorage().then((persisted) => { app.persisted = persisted; refreshPanel(); });
    await refreshPanel();
    markOfflineReady();
    syncNow();
  }
  await camera;
}

/** The inspector's token and the records; an enrolment code in the address (/E/<code> lands here) is used. */
async function startRecords() {
  app.records = new Inspections(app.store, {
    token: () => app.inspector.token(),
    onChange: renderRecords,
    onRefused: () => say($("#enrol-message"), "检查员令牌已失效，请重新登记；记录保留在本机",
      "The inspector token is no longer accepted: enrol again; the records stay on this phone"),
  });
  await app.records.start();
  const regions = await wantedRegions();
  $("#regions").value = regions ? regions.join(",") : "";
  const enrolment = /^#enrol=([A-Z2-7]{26})$/i.exec(window.location.hash);
  if (enrolment) {
    history.replaceState(null, "", window.location.pathname);
    await enrol(enrolment[1]);
  }
}

/** The stored data and the service's configuration, before any check or sync uses them. -> false without IndexedDB */
async function openData() {
  try {
    app.store = await OfflineStore.open();
  } catch {
    say($("#sync-message"), "此浏览器不能保存离线数据（隐私模式？），仍可联网核验。", "This browser cannot keep offline data (private mode?); online checks still work.");
    return false;
  }
  app.inspector = new Inspector(app.store);
  await app.inspector.load();
  [app.config] = await Promise.all([loadConfig(), loadStored()]);
  return true;
}

main();
