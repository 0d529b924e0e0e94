// The trust list as a phone syncs it: pinned root, cross-signed rotation, refusals, update rules.
import assert from "node:assert/strict";
import { test } from "node:test";

import { TrustListError, checkTrustListUpdate, loadTrustList } from "../src/core/index.js";
import { readVector, readVectorBytes, signTrustList, testKey } from "./core-support.js";

const LIST_BYTES = readVectorBytes("trust-list.json");
const LIST = readVector("trust-list.json");
const ROOT = readVector("valid-ed25519.json").root_public_key;
const ROTATION = readVector("trust-list-rotation.json");
const keyOf = (label) => readVector("keys.json").keys.find((k) => k.label === label).public_key;

test("the vector trust list verifies against its root and names its issuers and keys", async () => {
  const trust = await loadTrustList(LIST_BYTES, ROOT);
  assert.equal(trust.root.kid, "4ebbe65b20142e4f");
  assert.deepEqual(trust.issuers.map((i) => i.code), ["210100", "210200"]);
  assert.equal(trust.issuer("210100").credit_code, "11210100000000000J");
  assert.equal(trust.keysFor("860c93e5ed1f791c", "issuer").length, 2); // the kid collision: both kept
  assert.equal(trust.keysFor("72c40fc71487f8a5", "issuer").length, 0); // a feed key signs no certificate
  assert.equal(trust.keysFor("72c40fc71487f8a5", "feed").length, 1);
});

test("the pin may be PEM text or SPKI bytes", async () => {
  const pem = `-----BEGIN PUBLIC KEY-----\n${ROOT}\n-----END PUBLIC KEY-----\n`;
  assert.equal((await loadTrustList(LIST_BYTES, pem)).serial, LIST.list.serial);
  assert.equal((await loadTrustList(LIST, Buffer.from(ROOT, "base64"))).serial, LIST.list.serial);
});

test("a list is refused against another pinned root", async () => {
  await assert.rejects(loadTrustList(LIST_BYTES, keyOf("unlisted-ed25519")), TrustListError);
});

test("a list changed after signing is refused", async () => {
  const changed = structuredClone(LIST);
  changed.list.issuers[0].name = "别的机关";
  await assert.rejects(loadTrustList(JSON.stringify(changed), ROOT), /not signed by the root it names/);
});

test("root rotation by cross-signature is followed; the new root alone is refused", async () => {
  const pinned = ROTATION.pinned_root_public_key;
  const accepted = await loadTrustList(ROTATION.cross_signed, pinned);
  assert.equal(accepted.root.publicKey, ROTATION.keys[1].public_key);
  assert.equal(accepted.serial, 2);
  // Pinned to the new root from then on, the same list still verifies.
  assert.equal((await loadTrustList(ROTATION.cross_signed, accepted.root.publicKey)).serial, 2);
  await assert.rejects(loadTrustList(ROTATION.new_root_only, pinned), /pinned root/);
});

test("garbage is a TrustListError, never another exception", async () => {
  for (const doc of ["", "{", "[]", "null", '{"list": 1}', '{"list": {}}', '{"list": {"format": 1}}',
    JSON.stringify({ list: { ...LIST.list, keys: [{ kid: "x" }] }, signatures: LIST.signatures }),
    JSON.stringify({ list: { ...LIST.list, issued_at: "2026-11-01T09:00:00" }, signatures: LIST.signatures }),
    JSON.stringify({ list: LIST.list, signatures: [{ kid: "4ebbe65b20142e4f", sig: "not base64!" }] })]) {
    await assert.rejects(loadTrustList(doc, ROOT), TrustListError, doc.slice(0, 60));
  }
  await assert.rejects(loadTrustList(LIST_BYTES, "not a key"), TrustListError);
});

test("an update may not go back to a lower serial, nor change a list under the same serial", async () => {
  const root = testKey("root-2026");
  const next = signTrustList({ ...LIST.list, serial: LIST.list.serial + 1 }, root);
  assert.equal((await checkTrustListUpdate(next, ROOT, LIST_BYTES)).serial, LIST.list.serial + 1);
  assert.equal((await checkTrustListUpdate(LIST_BYTES, ROOT, LIST_BYTES)).serial, LIST.list.serial);
  await assert.rejects(checkTrustListUpdate(LIST_BYTES, ROOT, next), /older than the cached serial/);
  const sameSerial = signTrustList({ ...LIST.list, issued_at: "2026-11-02T09:00:00+08:00" }, root);
  await assert.rejects(checkTrustListUpdate(sameSerial, ROOT, LIST_BYTES), /differs from the cached list/);
});

test("number spaces, contacts and a malformed root read as keys/trustlist.py reads them", async () => {
  const trust = await loadTrustList(LIST_BYTES, ROOT);
  assert.deepEqual(trust.issuer("210100").numberPrefixes, ["辽A-"]);
  const root = testKey("root-2026");
  const issuers = (change) => LIST.list.issuers.map((i, n) => (n === 0 ? { ...i, ...change } : i));
  const withContact = signTrustList({ ...LIST.list, issuers: issuers({ contact: { phone: "024-1", url: "https://a.example.cn/" } }) }, root);
  assert.deepEqual((await loadTrustList(withContact, ROOT)).issuer("210100").contact,
    { phone: "024-1", address: "", url: "https://a.example.cn/" });
  for (const change of [{ contact: { url: "javascript:alert(1)" } }, { contact: { email: "a@b" } }, { contact: [] },
    { number_prefixes: "辽A-" }, { number_prefixes: [""] }, { number_prefixes: [1] }]) {
    await assert.rejects(loadTrustList(signTrustList({ ...LIST.list, issuers: issuers(change) }, root), ROOT), TrustListError,
      JSON.stringify(change));
  }
  for (const bad of [[], {}, "", 0, false]) {
    await assert.rejects(loadTrustList(signTrustList({ ...LIST.list, root: bad }, root), ROOT), /malformed trust list/,
      JSON.stringify(bad));
  }
});

test("credit codes: empty names none, anything but text or null is refused; the document's parts are objects", async () => {
  const root = testKey("root-2026");
  const issuers = (creditCode) => LIST.list.issuers.map((i, n) => (n === 0 ? { ...i, credit_code: creditCode } : i));
  for (const empty of ["", null]) {
    const trust = await loadTrustList(signTrustList({ ...LIST.list, issuers: issuers(empty) }, root), ROOT);
    assert.equal(trust.issuer("210100").credit_code, null);
  }
  for (const odd of [0, false, 1, [], {}]) {
    await assert.rejects(loadTrustList(signTrustList({ ...LIST.list, issuers: issuers(odd) }, root), ROOT),
      /credit_code is a text or null/, JSON.stringify(odd));
  }
  for (const doc of [{ list: [["format", 1]], signatures: [] }, { list: LIST.list, signatures: [[["kid", "x"]]] },
    { list: LIST.list, signatures: { kid: "x" } }]) {
    await assert.rejects(loadTrustList(JSON.stringify(doc), ROOT), /not a trust list document/);
  }
});
