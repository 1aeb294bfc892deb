/**
 * The gateway's per-key-id cache of private keys, with the real OHTTP server's habits
 * (microsoft/attested-ohttp-server's key cache): a key is fetched on the first request that names its id, kept
 * for a fixed time, and a failed fetch is remembered for a short while so that requests with a
 * bad key id cannot make the gateway hammer the KMS. Concurrent first requests share one fetch.
 */
import * as E from "fp-ts/lib/Either.js";
import { internal, type KmsError } from "../../core/errors.ts";
import { describeFailure } from "./describeFailure.ts";

/** How long a released key is used before it is fetched again: the real server's 24 h. */
export const DEFAULT_KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a failed fetch is answered from the cache: the real server's 60 s. */
export const DEFAULT_FAILURE_TTL_MS = 60 * 1000;

/** What a lookup answers: the key, or why it could not be had and until when that stands. */
export type CachedLookup<K> = E.Either<CachedFailure, K>;

/** A fetch failure as the cache remembers it. */
export interface CachedFailure {
  /** Why the key could not be had, as the KMS client reported it. */
  readonly error: KmsError;
  /** Clock time (ms) when the next lookup will try the KMS again. */
  readonly retryAt: number;
}

/** Options of {@link createKeyCache}. */
export interface KeyCacheOptions<K> {
  /** Fetches the key for an id; a throw counts as a failure like a Left. */
  readonly fetch: (keyId: number) => Promise<E.Either<KmsError, K>>;
  /** How long a fetched key is kept; {@link DEFAULT_KEY_TTL_MS} by default. */
  readonly keyTtlMs?: number;
  /** How long a failure is kept; {@link DEFAULT_FAILURE_TTL_MS} by default. */
  readonly failureTtlMs?: number;
  /** Milliseconds since the epoch; `Date.now` by default. */
  readonly clock?: () => number;
}

/** A cache of keys by OHTTP key id. */
export interface KeyCache<K> {
  /** The key for `keyId`, fetched if it is not cached or its entry has expired. */
  get(keyId: number): Promise<CachedLookup<K>>;
  /** Forgets every entry, so that the next lookups fetch again. */
  clear(): void;
}

interface Entry<K> {
  readonly lookup: Promise<CachedLookup<K>>;
  /** Infinity while the fetch runs: an entry in flight is always shared. */
  expiresAt: number;
}

/** A key cache over `options.fetch`. */
export const createKeyCache = <K>(options: KeyCacheOptions<K>): KeyCache<K> => {
  const keyTtl = options.keyTtlMs ?? DEFAULT_KEY_TTL_MS;
  const failureTtl = options.failureTtlMs ?? DEFAULT_FAILURE_TTL_MS;
  const clock = options.clock ?? Date.now;
  const entries = new Map<number, Entry<K>>();

  const fetchOnce = async (keyId: number): Promise<E.Either<KmsError, K>> => {
    try {
      return await options.fetch(keyId);
    } catch (e) {
      return E.left(internal(`fetching key ${keyId} failed: ${describeFailure(e)}`));
    }
  };

  const load = (keyId: number): Entry<K> => {
    const entry: Entry<K> = {
      lookup: fetchOnce(keyId).then((result): CachedLookup<K> => {
        entry.expiresAt = clock() + (E.isRight(result) ? keyTtl : failureTtl);
        return E.isRight(result) ? result : E.left({
          error: result.left,
          retryAt: entry.expiresAt,
        });
      }),
      expiresAt: Infinity,
    };
    entries.set(keyId, entry);
    return entry;
  };

  return {
    get: (keyId) => {
      const cached = entries.get(keyId);
      const entry = cached && cached.expiresAt > clock() ? cached : load(keyId);
      return entry.lookup;
    },
    clear: () => entries.clear(),
  };
};
