// docs/test-vectors/feed-keys.json through the phone's page verification (crane-scan runs the same file in
// tests/keys/test_feed.py): a feed page is trusted only from a feed key valid at its signed generated_at.
import assert from "node:assert/strict";
import { test } from "node:test";

import { FeedError, loadTrustList, verifyFeedPage } from "../src/core/index.js";
import { readVector, readVectorBytes } from "./core-support.js";

const VECTORS = readVector("feed-keys.json");

test("every feed-key vector is accepted or refused as the file says", async () => {
  const trust = await loadTrustList(readVectorBytes(VECTORS.trust_list), VECTORS.root_public_key);
  assert.ok(VECTORS.cases.some((c) => c.name === "retired-key-after-retirement"));
  for (const c of VECTORS.cases) {
    if (c.expected.accepted) {
      assert.deepEqual(await verifyFeedPage(c.document, trust), JSON.parse(c.document).page, c.name);
    } else {
      await assert.rejects(verifyFeedPage(c.document, trust), FeedError, c.name);
    }
  }
});
