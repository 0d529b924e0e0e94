/**
 * The verification core of the phone scanner: the rules of keys/ (payload, signatures, trust list,
 * status feed, verdicts) in DOM-free JavaScript, so the phone decides exactly as the service and the
 * CLI scanner do. Every rule here is pinned by the shared vectors in docs/test-vectors/.
 *
 * API (results are plain frozen objects; their string values equal the Python API answer's). Times
 * (`now`) are Date objects or epoch milliseconds; time is always a parameter. Async where WebCrypto is.
 *
 * Trust list
 *   await loadTrustList(doc, pinnedRoot) -> TrustList
 *       Verify a downloaded trust-list document (JSON text, bytes or parsed object; text is exact)
 *       against the pinned root (base64 SPKI DER, PEM text or bytes): the root the list names signed it,
 *       and the pinned root too when the list names another (cross-signed rotation). Throws
 *       TrustListError. TrustList: .serial, .issuedAt (ms), .root {alg, kid, spki, publicKey (base64)},
 *       .issuers [{code, name, credit_code}], .keys [{kid, alg, issuer, role, state, notBefore, ...}],
 *       .body, .document, .keysFor(kid, role), .issuer(code). After a rotation pin trust.root.publicKey.
 *   await checkTrustListUpdate(doc, pinnedRoot, storedDoc|null) -> TrustList
 *       loadTrustList plus scanner/sync.py's rule: a lower serial than the stored list's, or the same
 *       serial with another body, is refused (TrustListError).
 *
 * One code
 *   decodeQrText(text) -> {ok: true, envelope} | {ok: false, reason}
 *       Stages unprefix, base32, cose only (no keys): is this one of our codes at all?
 *   await verifyAt(text, trust, now) -> Verification (keys.payload.verify_at); never throws:
 *       {result (SignatureResult), kid, alg, issuer {code, name}|null, claims|null, certificate|null
 *        (the answer's `certificate` object), reason, key|null, valid, notOurs}
 *   signatureJson(verification, registeredAt?) -> the answer's `signature` {result, kid, alg, issuer};
 *       with the registry's registration time a payload registered after its key's compromise reads
 *       key_revoked (Verification.signature_registered).
 *
 * Verdicts (keys/verdict.py, keys/answer.py)
 *   await answerCode(text, trust, registry, now) -> {answer, verification}
 *       answer = the API answer JSON {verdict {ok, zh, en}, signature, status {state, label, reason, since,
 *       source, superseded_by[, data_time]}, certificate, checked_at}. A registry is
 *       {provenance: {source, dataTime}, entry(regNo, version), byLicence(licenceId)} (sync or async),
 *       each answering an entry, unavailable(reason) or null; see verdict.js.
 *   decide(signatureResult, state, mismatches = []) -> {ok, zh, en}
 *   withMismatches(answer, ["record_no" | "factory_serial" | ...]) -> answer with mismatches, verdict again
 *   markFor(answer) -> "ok" | "bad" | "warn" | "unknown"  (✔ ✖ ⚠ ?, scanner/verdicts.py mark_for)
 *   STATE_LABELS, SIGNATURE_LABELS: {value: [zh, en]};  SignatureResult, State, Source: string enums.
 *
 * Offline data (keys/feed.py, scanner/sync.py, scanner/offline.py)
 *   await verifyFeedPage(doc, trust) -> page   (a non-compromised feed key signed it; else FeedError).
 *       Call before storing anything from the page. Pass the response text: the signed bytes are then
 *       rebuilt from it exactly (a parsed object serves while its numbers are plain integers).
 *   advanceFeed(position {cursor, generatedAt}|null, page, since, region = null) -> {cursor, generatedAt, entries, more}
 *       sync.py's page checks, and refuses (FeedError) a page not continuing from the stored cursor, ending
 *       behind it, or signed as generated before the newest accepted page. Store the new position. With
 *       `region` (the status feed's ?region=) the signed page must name that region, and without one none.
 *   foldEntry(storedRow|null, entry) -> row to store (an entry older than the stored row keeps the row).
 *   OfflineData: the same in memory ({cursor, generatedAt, rows}, toJSON/fromJSON, apply(page, since),
 *       get(regNo, version), latest(regNo), count, dataTime (ms of the newest page's generated_at), age(now)).
 *       An IndexedDB store offering dataTime, get and latest (async allowed) serves the same; one that also
 *       offers `regions` (division-code prefixes synced) covers only certificates of those regions: any
 *       other reads unknown (OUTSIDE_REGIONS), never a guess.
 *   await answerOffline(text, trust, source, now, {maxAgeMs}) -> Checked
 *       {answer (status.source "offline", data_time), verification, mode: "offline", ageSeconds, notes,
 *        clockBehind}; past maxAgeMs (7 days default) the state is unknown; a clock behind the data is
 *        flagged in notes.
 *   await answerOfflineByNumbers(registrationNo, recordNo, trust, source, now, opts) -> Checked | null
 *       By the two numbers (paper certificates too); null when the numbers do not belong together.
 *
 * Online and local together (scanner/online.py)
 *   mergeOnline(serviceAnswer, localChecked|null) -> Checked (mode "online"): the registry's status wins; a
 *       signature this device proves bad (BAD_SIGNATURES) overrides the service's "valid", with a note.
 *   placelessAnswer(signatureResult, state, reason, now, source = "offline") -> answer with no certificate
 *   unplacedCode(text, now, reason = NO_DATA) -> placelessAnswer: malformed if none of our codes, else
 *       unknown_key / unknown (no data, no service).
 *
 * Errors: CoreError (base) > Malformed, TrustListError, FeedError, ChunkUnavailable (SM2 or the Ed25519
 * fallback could not be loaded: thrown by verifyAt and the answers, never read as `invalid`); messages
 * read Chinese / English.
 */

export { ChunkUnavailable, CoreError, FeedError, Malformed, TrustListError } from "./errors.js";
export { Alg } from "./algorithms.js";
export { decodeQrText } from "./cose.js";
export { SignatureResult, signatureJson, verifyAt } from "./verify.js";
export { KeyRole, KeyState, TrustList, checkTrustListUpdate, loadTrustList } from "./trustlist.js";
export {
  MISMATCH_VERDICT, SIGNATURE_LABELS, STATE_LABELS, Source, State, answerJson, decide, markFor, withMismatches,
} from "./answer.js";
export { DIFFERS, NOT_OURS, NOT_REGISTERED, SIG_FAILED, answerCode, answerEntry, samePayload, sameRecordNo, unavailable } from "./verdict.js";
export { advanceFeed, checkFeedPage, compareCursors, foldEntry, rowFromEntry, verifyFeedPage } from "./feed.js";
export {
  DEFAULT_MAX_AGE_MS, OfflineData, answerOffline, answerOfflineByNumbers, humanDuration, normaliseNumber, offlineRegistry,
} from "./offline.js";
export { BAD_SIGNATURES, NOT_FOUND, NO_DATA, mergeOnline, placelessAnswer, unplacedCode } from "./merge.js";
