// docs/test-vectors/feed-pages.json through the phone's page check (crane-scan runs the same file in
// tests/scanner/test_feed_page_vectors.py): a page is accepted only for the region it names.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FeedError, checkFeedPage, loadTrustList, verifyFeedPage } from "../src/core/index.js";
import { readVector, readVectorBytes } from "./core-support.js";

const VECTORS = readVector("feed-pages.json");

test("every feed-page vector is accepted or refused as the file says", async () => {
  const trust = await loadTrustList(readVectorBytes(VECTORS.trust_list), VECTORS.root_public_key);
  assert.ok(VECTORS.cases.some((c) => c.name === "empty-regional-as-national"));
  for (const c of VECTORS.cases) {
    const page = await verifyFeedPage(c.document, trust);
    if (!c.expected.accepted) {
      assert.throws(() => checkFeedPage(page, c.since, c.region), FeedError, c.name);
      continue;
    }
    const checked = checkFeedPage(page, c.since, c.region);
    assert.deepEqual([checked.entries.length, checked.next, checked.more],
      [c.expected.entries, c.expected.next, c.expected.more], c.name);
  }
});
