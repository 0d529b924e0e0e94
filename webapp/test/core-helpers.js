// Shared by the core tests: the vectors of docs/test-vectors/ and their trust list, read once.
import { webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const VECTORS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "docs", "test-vectors");

export const readVector = (name) => JSON.parse(readFileSync(join(VECTORS, name), "utf8"));
export const readVectorBytes = (name) => new Uint8Array(readFileSync(join(VECTORS, name)));

// Node 18 has WebCrypto only as node:crypto's webcrypto; browsers and Node 20 have globalThis.crypto.
if (!globalThis.crypto) globalThis.crypto = webcrypto;
