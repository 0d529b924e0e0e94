/**
 * The verification core of the phone scanner: the rules of keys/ (payload, signatures, trust list,
 * status feed, verdicts) in DOM-free JavaScript, so the phone decides exactly as the service and the
 * CLI scanner do. Every rule here is pinned by the shared vectors in docs/test-vectors/.
 *
 * API (everything returned is a plain frozen object; string values equal the Python API answer's):
 *
 *   Times are Date objects or epoch milliseconds wherever a `now` is taken; time is always a parameter.
 *
 *   await loadTrustList(doc, pinnedRoot) -> TrustList
 *       Verify a downloaded trust-list document (its JSON text, bytes or parsed object) against the
 *       pinned root (base64 SPKI DER, PEM text or bytes): the root the list names signed it, and the
 *       pinned root too when the list names another (cross-signed rotation). Throws TrustListError.
 *       The TrustList carries .serial, .issuedAt, .root {alg, kid, spki, publicKey (base64)},
 *       .issuers [{code, name, credit_code}], .keys [...], .body (the signed list) and .document.
 *       After a rotation, pin trustList.root.publicKey from then on.
 *   await checkTrustListUpdate(doc, pinnedRoot, storedDoc|null) -> TrustList
 *       loadTrustList, then the sync rules: a lower serial than the stored list's, or the same serial
 *       with another body, is refused (TrustListError), as scanner/sync.py does.
 *
 *   decodeQrText(text) -> {ok: true, envelope} | {ok: false, reason}
 *       Stages unprefix, base32 and cose only (no keys needed): is this one of our codes at all?
 *   await verifyAt(text, trustList, now) -> Verification
 *       keys.payload.verify_at: {result, kid, alg, issuer: {code, name}|null, claims|null,
 *       certificate|null (the answer's `certificate` object), reason, key (the trusted key used)|null,
 *       notOurs (malformed and no claims)}. Never throws; `result` is one of SignatureResult.
 *   signatureJson(verification, registeredAt?) -> {result, kid, alg, issuer}
 *       The answer's `signature` object; with the registry's registration time a backdated payload
 *       signed after the key's compromise reads key_revoked (Verification.signature_registered).
 *
 *   await verifyFeedPage(doc, trustList) -> page
 *       keys.feed.verify_page: the page when a non-compromised feed key of the list signed it; else
 *       throws FeedError. Call before storing anything from the page.
 *   checkFeedPage(page, since) -> {entries, next, more}
 *       scanner/sync.py's page checks (answers the cursor asked for, entries strictly after it and in
 *       order, next = last entry's cursor, known states); throws FeedError.
 *   OfflineData: the folded state of the signed feed, kept by the app in IndexedDB as plain JSON.
 *       OfflineData.empty() / OfflineData.fromJSON(json) / data.toJSON()
 *       data.acceptPage(page, pageSince) -> new OfflineData (refuses, with FeedError, a page whose
 *           `since` is not the stored cursor, or whose signed generated_at is older than the newest
 *           accepted page's); entries folded per (registration_no, version), newer cursor wins.
 *       data.get(registrationNo, version) -> row|null;  data.cursor; data.generatedAt (ms|null);
 *       data.count; data.rows() (iterator); data.age(now) -> ms (negative when the clock is behind).
 *   await answerOffline(text, trustList, data, now, {maxAgeMs}) -> Checked
 *       The offline answer of scanner/offline.py: {answer (the API answer JSON: verdict, signature,
 *       status, certificate, checked_at), mode: "offline", ageSeconds, notes [...], clockBehind}.
 *   answerOfflineByNumbers(registrationNo, recordNo, data, now, opts) -> Checked | null
 *       Lookup by the two numbers from the synced data (paper certificates too).
 *
 *   decide(signatureResult, state, mismatches = []) -> {ok, zh, en}   (keys.answer.decide)
 *   withMismatches(answerJson, mismatches) -> answerJson with mismatches and the verdict decided again
 *   STATE_LABELS, SIGNATURE_LABELS: {value: [zh, en]};  SignatureResult, State, Source: enums.
 *
 *   Errors: CoreError (base) > Malformed, TrustListError, FeedError; each message is Chinese / English.
 */

export { CoreError, FeedError, Malformed, TrustListError } from "./errors.js";
export { SignatureResult, signatureJson, verifyAt } from "./verify.js";
export { KeyRole, KeyState, TrustList, checkTrustListUpdate, loadTrustList } from "./trustlist.js";
