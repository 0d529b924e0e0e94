// The phone's offline data in IndexedDB: the signed trust list and the pin it was checked against, every
// signed feed page as received, one row per certificate version folded from them (the core's foldEntry),
// and the feed position {cursor, generatedAt}. A page, its rows and the new position are written in one
// transaction: an interrupted sync resumes from the cursor, and nothing half-applied is ever read.
// Beside them, the inspection records (one per check, keyed by the id made on the phone) until the service
// has acknowledged them, and kept after that for the history.
import { OfflineData, foldEntry } from "../core/index.js";

const NAME = "crane-scan";
const VERSION = 2;

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
  });
}

export class OfflineStore {
  static async open() {
    const request = indexedDB.open(NAME, VERSION);
    request.onupgradeneeded = (event) => {
      const db = request.result;
      if (event.oldVersion < 1) {
        db.createObjectStore("meta"); // trust document, pin, feed position, sync times, the inspector's token
        db.createObjectStore("pages"); // signed feed pages, keyed by the cursor they answer
        db.createObjectStore("rows", { keyPath: ["registration_no", "version"] });
      }
      if (event.oldVersion < 2) db.createObjectStore("records", { keyPath: "id" });
    };
    return new OfflineStore(await done(request));
  }

  constructor(db) {
    this.db = db;
  }

  async meta(key) {
    return done(this.db.transaction("meta").objectStore("meta").get(key));
  }

  async setMeta(values) {
    const tx = this.db.transaction("meta", "readwrite");
    const store = tx.objectStore("meta");
    for (const [key, value] of Object.entries(values)) store.put(value, key);
    return committed(tx);
  }

  /**
   * Stores one verified page: the signed document, its entries folded into the rows, the new position.
   * `fresh`: the keys written so far by a sync that began on an empty store (or null): a version not among
   * them has no stored row to fold into, so it is written without reading first.
   */
  async storePage(since, signedPage, entries, position, fresh = null, region = null) {
    // Relaxed durability: still all or nothing, only not flushed to disk before the next page. Lost in a crash,
    // a page is fetched again from the cursor that was stored with the rows before it.
    const tx = this.db.transaction(["pages", "rows", "meta"], "readwrite", { durability: "relaxed" });
    tx.objectStore("pages").put(signedPage, region === null ? since : `${region}:${since}`);
    tx.objectStore("meta").put(position, positionKey(region));
    const rows = tx.objectStore("rows");
    // Entries of one version fold in feed order; each version's stored row is read once.
    const byKey = new Map();
    for (const entry of entries) {
      const key = `${entry.registration_no}\u0000${entry.version}`;
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(entry);
    }
    for (const [key, group] of byKey) {
      const fold = (stored) => group.reduce((row, entry) => foldEntry(row, entry), stored);
      if (fresh && !fresh.has(key)) {
        fresh.add(key);
        rows.put(fold(null));
        continue;
      }
      const read = rows.get([String(group[0].registration_no), Number(group[0].version)]);
      read.onsuccess = () => rows.put(fold(read.result || null));
    }
    return committed(tx);
  }

  /** Writes one inspection record (new or updated), durably: a check is never lost to a closed app. */
  async putRecord(record) {
    const tx = this.db.transaction("records", "readwrite", { durability: "strict" });
    tx.objectStore("records").put(record);
    return committed(tx);
  }

  async records() {
    return done(this.db.transaction("records").objectStore("records").getAll());
  }

  /** Applies fn(record) -> record|null to the stored records with these ids, in one transaction. */
  async updateRecords(ids, fn) {
    const tx = this.db.transaction("records", "readwrite", { durability: "strict" });
    const store = tx.objectStore("records");
    for (const id of ids) {
      const read = store.get(id);
      read.onsuccess = () => {
        const next = read.result ? fn(read.result) : null;
        if (next) store.put(next);
      };
    }
    return committed(tx);
  }

  /** Drops every feed page, row and position (the trust list and its pin stay). */
  async clearFeed() {
    const tx = this.db.transaction(["pages", "rows", "meta"], "readwrite", { durability: "strict" });
    tx.objectStore("pages").clear();
    tx.objectStore("rows").clear();
    const meta = tx.objectStore("meta");
    const keys = meta.getAllKeys();
    keys.onsuccess = () => keys.result.filter((k) => String(k).startsWith("position")).forEach((k) => meta.delete(k));
    return committed(tx);
  }

  async clearMeta(key) {
    const tx = this.db.transaction("meta", "readwrite");
    tx.objectStore("meta").delete(key);
    return committed(tx);
  }

  async rowCount() {
    return done(this.db.transaction("rows").objectStore("rows").count());
  }

  async position(region = null) {
    return (await this.meta(positionKey(region))) || null;
  }

  /**
   * What the core's offline answers read: dataTime, get(registrationNo, version), latest(registrationNo) and
   * regions. `regions` null: the whole feed; else the regions asked for, of which those synced are covered
   * and the oldest of their pages is the data's time.
   */
  async source(regions = null) {
    const keys = regions === null ? [null] : regions;
    const held = [];
    for (const region of keys) {
      const position = await this.position(region);
      if (position) held.push({ region, position });
    }
    if (!held.length) return null;
    const rows = () => this.db.transaction("rows").objectStore("rows");
    return {
      regions: regions === null ? null : held.map((p) => p.region),
      // the core's reading of the signed generated_at
      dataTime: Math.min(...held.map((p) => OfflineData.fromJSON(p.position).dataTime)),
      get: async (registrationNo, version) => (await done(rows().get([registrationNo, version]))) || null,
      latest: async (registrationNo) => {
        const range = IDBKeyRange.bound([registrationNo, -Infinity], [registrationNo, Infinity]);
        const cursor = await done(rows().openCursor(range, "prev"));
        return cursor ? cursor.value : null;
      },
      count: async () => done(rows().count()),
    };
  }
}

const positionKey = (region) => (region === null ? "position" : `position:${region}`);

/** Asks the browser to keep the data under storage pressure; a refusal is shown, never fatal. */
export async function persistStorage() {
  try {
    if (!navigator.storage || !navigator.storage.persist) return false;
    return (await navigator.storage.persisted()) || (await navigator.storage.persist());
  } catch {
    return false;
  }
}

export async function storageUsed() {
  try {
    return navigator.storage && navigator.storage.estimate ? (await navigator.storage.estimate()).usage : null;
  } catch {
    return null;
  }
}
