/** One base error for the core; every message reads Chinese first, then English. */

export class CoreError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** Why a text is not one of our codes; verification turns it into the `malformed` result. */
export class Malformed extends CoreError {}

/** A trust list is malformed, or its signature does not check against the pinned root. */
export class TrustListError extends CoreError {}

/** A feed page is malformed, or its signature does not check against a trusted feed key. */
export class FeedError extends CoreError {}

/** A verifier loaded on first use (SM2, the Ed25519 fallback) could not be loaded: an error, never `invalid`. */
export class ChunkUnavailable extends CoreError {}
