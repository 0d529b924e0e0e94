// Random damage to valid QR texts, from a seeded generator: shared by the mutation and differential tests.
import { readVector } from "./core-helpers.js";

export const VALID = ["valid-ed25519.json", "valid-es256.json", "valid-sm2.json", "valid-uncompressed.json",
  "valid-full-licence-id.json", "valid-lowercase-url.json"].map(readVector);
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abz019:/.?#= \t\n\u3000\u00e9\u{1f600}\ud800";

export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MUTATIONS = [
  (t, r) => { const i = Math.floor(r() * t.length); return t.slice(0, i) + ALPHABET[Math.floor(r() * ALPHABET.length)] + t.slice(i + 1); },
  (t, r) => { const i = Math.floor(r() * t.length); return t.slice(0, i) + ALPHABET[Math.floor(r() * ALPHABET.length)] + t.slice(i); },
  (t, r) => { const i = Math.floor(r() * t.length); return t.slice(0, i) + t.slice(i + 1); },
  (t, r) => t.slice(0, Math.floor(r() * t.length)),
  (t, r) => { const i = Math.floor(r() * (t.length - 1)); return t.slice(0, i) + t[i + 1] + t[i] + t.slice(i + 2); },
  (t, r) => { const i = Math.floor(r() * t.length); const j = i + Math.floor(r() * 40); return t.slice(0, j) + t.slice(i, j) + t.slice(j); },
  (t) => t.toLowerCase(),
  (t, r) => " \n\t".slice(0, 1 + Math.floor(r() * 3)) + t + "\u3000",
  (t, r) => t + "A".repeat(1 + Math.floor(r() * 8)),
  (t, r) => t.repeat(1 + Math.floor(r() * 7)),
];

/** `count` mutated texts with the clock of the vector they came from: [[text, verify_at], ...]. */
export function mutatedTexts(count, seed) {
  const random = prng(seed);
  const out = [];
  for (let round = 0; round < count; round++) {
    const vector = VALID[round % VALID.length];
    let text = vector.qr_text;
    const steps = 1 + Math.floor(random() * 3);
    for (let s = 0; s < steps; s++) text = MUTATIONS[Math.floor(random() * MUTATIONS.length)](text, random);
    out.push([text, vector.verify_at, vector]);
  }
  return out;
}
