/**
 * Key records and their life cycle.
 *
 * Every key has a monotonic uint32 `index` (its identity in storage, never reused) and a one-byte
 * OHTTP `keyId` (what travels in KeyConfigs, in OHTTP requests and in `?kid=`). Times are whole
 * seconds since the Unix epoch. A key is *active* until `notAfter`, then in *grace* until
 * `releaseUntil`, then *expired*: it can be released while active or in grace.
 */
import * as O from "fp-ts/lib/Option.js";
import * as t from "io-ts";
import { boundedInt } from "../codec.ts";

/** The largest key index (uint32). */
export const maxKeyIndex = 2 ** 32 - 1;
const maxTime = 2 ** 47; // whole seconds; far beyond any real date, still an exact double

/** The fields of a key's public record and their largest values: the one statement of them. */
const recordFields = {
  index: maxKeyIndex,
  keyId: 255,
  createdAt: maxTime,
  notAfter: maxTime,
  releaseUntil: maxTime,
} as const;
type RecordField = keyof typeof recordFields;

/** Codec of the public record of a key, as stored in the KV and returned by `/refresh`. */
export const KeyRecord = t.strict(
  Object.fromEntries(
    Object.entries(recordFields).map(([name, max]) => [name, boundedInt(name, 0, max)]),
  ) as { [K in RecordField]: t.Type<number, number> },
);
/** The public record of a key. */
export type KeyRecord = t.TypeOf<typeof KeyRecord>;

/** Where a key is in its life cycle at a given time. */
export type KeyState = "active" | "grace" | "expired";

/** The state of `key` at `now`. */
export const keyState = (key: KeyRecord, now: number): KeyState =>
  now < key.notAfter ? "active" : now < key.releaseUntil ? "grace" : "expired";

/**
 * The first time after `now` at which a key of `keys` changes state (its `notAfter` or its
 * `releaseUntil`), or Infinity: every key keeps the state it has at `now` until then.
 */
export const nextStateChange = (keys: readonly KeyRecord[], now: number): number => {
  let next = Infinity;
  for (const k of keys) {
    const change = now < k.notAfter ? k.notAfter : now < k.releaseUntil ? k.releaseUntil : next;
    if (change < next) next = change;
  }
  return next;
};

/** Whether `key` can still be released at `now` (active or in grace). */
export const isReleasable = (key: KeyRecord, now: number): boolean => now < key.releaseUntil;

/** The key with the highest index, whatever its state. */
export const newestKey = <K extends KeyRecord>(
  keys: readonly K[],
): O.Option<K> =>
  keys.reduce<O.Option<K>>(
    (best, k) => O.isSome(best) && best.value.index > k.index ? best : O.some(k),
    O.none,
  );

/** The newest key that is active at `now`. */
export const newestActiveKey = (
  keys: readonly KeyRecord[],
  now: number,
): O.Option<KeyRecord> => newestKey(keys.filter((k) => keyState(k, now) === "active"));

/**
 * The key that holds OHTTP key id `keyId`: the newest key with that id. Older keys with the same id
 * are expired, because the planner never gives an id to a new key while a releasable key holds it.
 */
export const keyByKeyId = <K extends KeyRecord>(keys: readonly K[], keyId: number): O.Option<K> =>
  newestKey(keys.filter((k) => k.keyId === keyId));

/** A key's public record with its KeyConfig hex. */
export interface PublishedKey extends KeyRecord {
  /** The OHTTP KeyConfig, lowercase hex: the `publicKey` of `/listpubkeys`. */
  readonly publicKey: string;
}

const isBoundedInt = (u: unknown, max: number): u is number =>
  typeof u === "number" && Number.isInteger(u) && u >= 0 && u <= max;

const recordFieldNames = Object.keys(recordFields) as RecordField[];

const isPublishedKey = (u: unknown): u is PublishedKey => {
  if (typeof u !== "object" || u === null) return false;
  const k = u as Record<string, unknown>;
  return recordFieldNames.every((name) => isBoundedInt(k[name], recordFields[name])) &&
    typeof k.publicKey === "string" && /^[0-9a-f]{212}$/.test(k.publicKey);
};

/**
 * Codec of a key's public record with its KeyConfig hex, as `/refresh` publishes it. Written as one
 * guard over the same field table as {@link KeyRecord} rather than combined io-ts codecs, because
 * a cold read of the key ring decodes up to 256 of these: the combinators cost 1.4 times as much
 * in V8 (test/bench/formats_bench.ts measures both) and about twice as much in QuickJS.
 */
export const PublishedKey = new t.Type<PublishedKey, PublishedKey, unknown>(
  "PublishedKey",
  isPublishedKey,
  (u, c) =>
    isPublishedKey(u)
      ? t.success({
        ...Object.fromEntries(recordFieldNames.map((name) => [name, u[name]])) as KeyRecord,
        publicKey: u.publicKey,
      })
      : t.failure(
        u,
        c,
        "a key record {index, keyId, createdAt, notAfter, releaseUntil, publicKey}",
      ),
  t.identity,
);

const Hex48 = t.refinement(
  t.string,
  (s) => /^[0-9a-f]{96}$/.test(s),
  "48 bytes in lowercase hex",
);

/** Codec of a key's private part, kept only in a private (encrypted) KV map. */
export const StoredPrivateKey = t.strict({ d: Hex48, x: Hex48, y: Hex48 });
/** A key's private part: the P-384 scalar and public point, hex. */
export type StoredPrivateKey = t.TypeOf<typeof StoredPrivateKey>;

const inIndexOrder = (ring: readonly KeyRecord[]): boolean =>
  ring.every((k, i) => i === 0 || ring[i - 1].index < k.index);

/**
 * Codec of the key ring: oldest first (ascending indexes, as {@link withNewKey} appends them), so
 * that readers find the newest keys at the end without sorting; at most one key per OHTTP key id,
 * so at most 256 keys.
 */
export const KeyRing = t.refinement(
  t.array(PublishedKey),
  (ring) =>
    ring.length <= 256 && inIndexOrder(ring) &&
    new Set(ring.map((k) => k.keyId)).size === ring.length,
  "key ring (ascending indexes, at most one key per OHTTP key id)",
);

/**
 * The ring with `key` added: it replaces the key that held its OHTTP key id, which the planner only
 * reuses once that key has expired. Returns the new ring and the replaced key, whose private part
 * can then be deleted.
 */
export const withNewKey = (
  ring: readonly PublishedKey[],
  key: PublishedKey,
): { readonly ring: PublishedKey[]; readonly replaced?: PublishedKey } => ({
  ring: [...ring.filter((k) => k.keyId !== key.keyId), key],
  replaced: ring.find((k) => k.keyId === key.keyId),
});
