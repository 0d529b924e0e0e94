// The phone's offline data in IndexedDB: the signed trust list and the pin it was checked against, every
// signed feed page as received, and the folded state (the core's OfflineData) with its cursor. A page and
// the state it produced are written in one transaction, so an interrupted sync resumes from the cursor.

const NAME = "crane-scan";
const VERSION = 1;

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
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("meta");   // trust document, pin, sync times
      db.createObjectStore("pages");  // signed feed pages, keyed by the cursor they answer
      db.createObjectStore("state");  // "offline": OfflineData.toJSON()
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

  async offlineState() {
    return done(this.db.transaction("state").objectStore("state").get("offline"));
  }

  /** One verified page and the state folded from it, together or not at all. */
  async storePage(since, signedPage, stateJson, meta) {
    const tx = this.db.transaction(["pages", "state", "meta"], "readwrite");
    tx.objectStore("pages").put(signedPage, since);
    tx.objectStore("state").put(stateJson, "offline");
    for (const [key, value] of Object.entries(meta)) tx.objectStore("meta").put(value, key);
    return committed(tx);
  }

  async pageCount() {
    return done(this.db.transaction("pages").objectStore("pages").count());
  }
}

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
