/**
 * The trust list as keys/trustlist.py reads it: which issuers and keys a verifier trusts, signed by
 * the root key. A list is accepted when the root it names signed it and, if that root is not the
 * pinned one, the pinned root signed it too: that cross-signature is how a verifier pinned to an old
 * root moves on to a new one.
 */

import { concat, equal, fromBase64, toBase64, utf8 } from "./bytes.js";
import { canonicalJson, readJson } from "./canonical.js";
import { Alg, algOfSpki, isValidPublicKey, kidOf, verifySignature } from "./algorithms.js";
import { TrustListError } from "./errors.js";
import { IdentifierError, validateCreditCode } from "./identifiers.js";
import { pyInt, pyIter, pyOr, pyStr } from "./pyjson.js";
import { parseIso } from "./time.js";

const DOMAIN = utf8("crane-trust-list-v1\0");
const FORMAT = 1;

export const KeyRole = Object.freeze({ ISSUER: "issuer", FEED: "feed" });
export const KeyState = Object.freeze({ ACTIVE: "active", RETIRED: "retired", COMPROMISED: "compromised" });
const ROLES = new Set(Object.values(KeyRole));
const STATES = new Set(Object.values(KeyState));
const ALGS = new Set(Object.values(Alg));

const refused = (message) => new TrustListError(`信任列表未通过校验 / ${message}`);

/** A problem in the list body; becomes "malformed trust list: ..." as Python words it. */
class BodyError extends Error {}

const has = (obj, key) => obj !== null && typeof obj === "object" && !Array.isArray(obj) && key in obj;

function field(obj, key) {
  if (!has(obj, key)) throw new BodyError(`KeyError('${key}')`);
  return obj[key];
}

function time(value) {
  if (value === null || value === undefined || value === "") return null;
  let moment;
  try {
    moment = parseIso(value);
  } catch (exc) {
    throw new BodyError(`ValueError('${exc.message}')`);
  }
  if (moment === null) throw refused(`time ${value} has no time zone`);
  return moment;
}

function spkiOf(base64) {
  try {
    return fromBase64(base64);
  } catch {
    throw new BodyError("Error('Incorrect padding or non-base64 digit')");
  }
}

async function publicKey(base64) {
  const spki = spkiOf(base64);
  const alg = algOfSpki(spki);
  if (alg === null || !(await isValidPublicKey(alg, spki))) {
    throw new BodyError("KeyFileError('not a readable key; use Ed25519, P-256 or SM2')");
  }
  return { alg, spki, publicKey: toBase64(spki), kid: await kidOf(spki) };
}

async function trustedKey(data) {
  const key = await publicKey(field(data, "public_key"));
  const alg = field(data, "alg");
  if (!ALGS.has(alg)) throw new BodyError(`ValueError("'${pyStr(alg)}' is not a valid Alg")`);
  if (alg !== key.alg) throw refused(`key ${pyStr(data.kid)}: alg ${alg} does not match its ${key.alg} key`);
  const role = field(data, "role");
  if (!ROLES.has(role)) throw new BodyError(`ValueError("'${pyStr(role)}' is not a valid KeyRole")`);
  const state = has(data, "state") ? data.state : KeyState.ACTIVE;
  if (!STATES.has(state)) throw new BodyError(`ValueError("'${pyStr(state)}' is not a valid KeyState")`);
  return Object.freeze({
    // The list states the kid; it is not recomputed (two entries may share one).
    kid: pyStr(field(data, "kid")), alg, spki: key.spki, publicKey: key.publicKey, issuer: pyStr(field(data, "issuer")),
    role, notBefore: time(data.not_before), notAfter: time(data.not_after), state, compromisedAt: time(data.compromised_at),
    // Signs nothing from this moment; what it signed before stands.
    retiredAt: time(data.retired_at),
    // The times as the list writes them, for reasons worded as Python's str(datetime) words them.
    written: Object.freeze({ notBefore: data.not_before, notAfter: data.not_after, compromisedAt: data.compromised_at,
      retiredAt: data.retired_at }),
  });
}

function trustedIssuer(data) {
  let creditCode = has(data, "credit_code") ? data.credit_code : null;
  if (creditCode !== null && typeof creditCode !== "string") {
    throw refused(`issuer ${pyStr(field(data, "code"))}: credit_code is a text or null`);
  }
  if (creditCode) {
    try {
      creditCode = validateCreditCode(creditCode);
    } catch (exc) {
      if (exc instanceof IdentifierError) throw new BodyError(`IdentifierError('${exc.message}')`);
      throw exc;
    }
  } else {
    creditCode = null; // "" names none, as null does
  }
  const prefixes = has(data, "number_prefixes") ? data.number_prefixes : null;
  if (prefixes !== null && !(Array.isArray(prefixes) &&
      prefixes.every((p) => typeof p === "string" && [...p].length > 0 && [...p].length <= 40))) {
    throw refused(`issuer ${pyStr(field(data, "code"))}: number_prefixes is a list of texts`);
  }
  const contact = has(data, "contact") ? data.contact : null;
  return Object.freeze({
    code: pyStr(field(data, "code")), name: pyStr(field(data, "name")), credit_code: pyOr(creditCode, null),
    // The registration numbers this issuer may sign, by prefix; null: a list from before number spaces.
    numberPrefixes: prefixes === null ? null : Object.freeze([...prefixes]),
    contact: contact === null ? null : issuerContact(contact),
  });
}

const CONTACT_FIELDS = ["phone", "address", "url"];

/** How the public reaches the authority (keys.trustlist.IssuerContact); pages link its url, so http(s) only. */
function issuerContact(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data) ||
      Object.keys(data).some((k) => !CONTACT_FIELDS.includes(k))) {
    throw refused("an issuer's contact is an object of phone, address and url");
  }
  const values = Object.fromEntries(CONTACT_FIELDS.map((k) => [k, k in data ? data[k] : ""]));
  if (!Object.values(values).every((v) => typeof v === "string" && [...v].length <= 200)) {
    throw refused("an issuer's contact holds texts of at most 200 characters");
  }
  if (values.url && !/^https?:\/\/[^\s"'<>]+$/.test(values.url)) {
    throw refused(`an issuer's contact url must be an http(s) address: '${values.url}'`);
  }
  return Object.freeze(values);
}

/** TrustedIssuer.owns: a number inside the issuer's space (any number, for a list without spaces). */
export function ownsNumber(issuer, registrationNo) {
  return issuer.numberPrefixes === null || issuer.numberPrefixes.some((p) => registrationNo.startsWith(p));
}

/** A verified trust list: what a verifier trusts. Build it with loadTrustList. */
export class TrustList {
  constructor({ root, serial, issuedAt, issuers, keys, body, document }) {
    Object.assign(this, { root, serial, issuedAt, issuers, keys, body, document });
    const byKid = new Map();
    for (const key of keys) byKid.set(key.kid, [...(byKid.get(key.kid) ?? []), key]);
    this._byKid = byKid;
    Object.freeze(this);
  }

  /** Every key with this kid and role: ids are short, so more than one may share one. */
  keysFor(kid, role) {
    return (this._byKid.get(kid) ?? []).filter((k) => k.role === role);
  }

  issuer(code) {
    return this.issuers.find((i) => i.code === code) ?? null;
  }
}

async function fromBody(body, document) {
  try {
    // Python compares with ==, under which True is 1.
    if (!has(body, "format") || !(body.format === FORMAT || body.format === true)) {
      throw refused(`unsupported trust list format ${has(body, "format") ? pyStr(body.format) : "None"}`);
    }
    // Only null names no root: [], {}, "", 0 or false are a malformed root.
    const root = body.root === null || body.root === undefined ? null : await publicKey(field(body.root, "public_key"));
    return new TrustList({
      root, serial: pyInt(field(body, "serial")), issuedAt: time(body.issued_at),
      issuers: Object.freeze(pyIter(field(body, "issuers")).map(trustedIssuer)),
      keys: Object.freeze(await Promise.all(pyIter(field(body, "keys")).map(trustedKey))),
      body, document,
    });
  } catch (exc) {
    if (exc instanceof BodyError || exc instanceof TypeError) throw refused(`malformed trust list: ${exc.message}`);
    throw exc;
  }
}

function readDocument(doc) {
  let parsed;
  let exact;
  try {
    ({ value: parsed, exact } = readJson(doc));
  } catch (exc) {
    throw refused(`not a trust list document: ${exc.message}`);
  }
  const body = has(parsed, "list") ? parsed.list : undefined;
  const signatures = has(parsed, "signatures") ? parsed.signatures : [];
  if (body === null || typeof body !== "object" || Array.isArray(body) || !Array.isArray(signatures) ||
      signatures.some((s) => s === null || typeof s !== "object" || Array.isArray(s))) {
    throw refused("not a trust list document: 'list' is missing or not an object");
  }
  // What the root signed: the domain tag, then the list as canonical JSON written from the document itself.
  const canonical = canonicalJson(exact("list"));
  return { body, signatures, parsed, canonical, message: concat(DOMAIN, canonical) };
}

async function signedBy({ message, signatures }, root) {
  for (const sig of signatures) {
    let raw;
    try {
      raw = fromBase64(sig.sig);
    } catch {
      continue;
    }
    if (sig.kid === root.kid && (await verifySignature(root.alg, root.spki, raw, message))) return true;
  }
  return false;
}

/** The pinned root from base64 SPKI DER, PEM text or bytes. */
export async function readRoot(pinned) {
  let spki = pinned;
  if (typeof pinned === "string") {
    const base64 = pinned.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "");
    try {
      spki = fromBase64(base64);
    } catch {
      throw refused("the pinned root is not a public key");
    }
  }
  const alg = spki instanceof Uint8Array ? algOfSpki(spki) : null;
  if (alg === null || !(await isValidPublicKey(alg, spki))) throw refused("the pinned root is not a public key");
  return { alg, spki, publicKey: toBase64(spki), kid: await kidOf(spki) };
}

/** The list, when its own root and the pinned root both signed it (SignedTrustList.verify). */
export async function loadTrustList(doc, pinnedRoot) {
  const pinned = await readRoot(pinnedRoot);
  const document = readDocument(doc);
  const trust = await fromBody(document.body, document.parsed);
  if (trust.root === null || !(await signedBy(document, trust.root))) {
    throw refused("trust list is not signed by the root it names");
  }
  if (!equal(trust.root.spki, pinned.spki) && !(await signedBy(document, pinned))) {
    throw refused("trust list is not signed by the pinned root key");
  }
  return trust;
}

/** loadTrustList, then scanner/sync.py's rule: never an older serial, nor another list of the same serial. */
export async function checkTrustListUpdate(doc, pinnedRoot, storedDoc = null) {
  const trust = await loadTrustList(doc, pinnedRoot);
  if (storedDoc !== null && storedDoc !== undefined) {
    const stored = readDocument(storedDoc);
    const previous = stored.body;
    const oldSerial = has(previous, "serial") ? pyInt(previous.serial) : 0;
    if (trust.serial < oldSerial) {
      throw refused(`serial ${trust.serial} is older than the cached serial ${oldSerial}`);
    }
    if (trust.serial === oldSerial && !equal(readDocument(doc).canonical, stored.canonical)) {
      throw refused(`serial ${trust.serial} differs from the cached list of the same serial`);
    }
  }
  return trust;
}
