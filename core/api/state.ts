/** The KMS state the endpoints read from the KV, each value decoded with its core codec. */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import {
  type JwtValidationPolicy,
  JwtValidationPolicy as JwtValidationPolicyCodec,
} from "../attestation/jwtValidation.ts";
import { decodeWith } from "../codec.ts";
import {
  flatMap,
  flatMapEither,
  fromEither,
  get,
  of,
  perform,
  type Program,
  type ReceiptLookup,
} from "../effects.ts";
import { internal, invalidInput, keyNotFound, type KmsError, receiptNotReady } from "../errors.ts";
import { KeyRing, type PublishedKey } from "../keys/record.ts";
import { decodeStoredPolicy, emptyStoredPolicy } from "../policy/keyRelease.ts";
import { initialRotationPolicy, StoredRotationPolicy } from "../policy/rotation.ts";
import { initialSettings, StoredSettings } from "../policy/settings.ts";
import {
  jwtValidationTable,
  keyReleaseTable,
  keyRingTable,
  type PolicyTable,
  rotationTable,
  settingsTable,
} from "../tables.ts";

/**
 * The stored value at `key` of `map` decoded with `decode`, or `fallback` when none is stored. A
 * value that does not decode is the service's fault, not the caller's: `Internal`.
 */
const readStored = <A>(
  map: string,
  key: string,
  decode: (u: unknown) => E.Either<KmsError, A>,
  fallback: A,
): Program<A> =>
  get(
    map,
    key,
    (stored) =>
      stored === undefined
        ? E.right(fallback)
        : E.mapLeft((e: KmsError) => internal(e.message))(decode(stored)),
    fromEither,
  );

/** The key ring: the newest key of each OHTTP key id (every releasable key among them). */
export const loadKeys = (): Program<PublishedKey[]> =>
  readStored(keyRingTable.map, keyRingTable.key, decodeWith(KeyRing, "the key ring"), []);

/**
 * A stored governance value as its history keeps it: with the proposal that set it (and, once
 * read, the transaction that applied that proposal).
 */
type HistoryEntry<S> = S & { readonly proposalId: string; readonly transactionId?: string };

const HistoryFields = t.type({ version: t.unknown, policy: t.unknown, proposalId: t.string });

const decodeHistory =
  <S>(decode: (u: unknown) => E.Either<KmsError, S>) =>
  (raw: unknown): E.Either<KmsError, HistoryEntry<S> | undefined> =>
    HistoryFields.is(raw)
      ? pipe(
        decode({ version: raw.version, policy: raw.policy }),
        E.map((stored) => ({ ...stored, proposalId: raw.proposalId })),
      )
      : E.left(invalidInput("a policy history entry is malformed"));

/**
 * A versioned policy: the one in force (`initial` before governance set one), or with `version`
 * the one that version's proposal set, read from the history its constitution action keeps.
 */
const versioned = <S extends { readonly version: number; readonly policy: unknown }>(
  table: PolicyTable,
  decode: (u: unknown) => E.Either<KmsError, S>,
  initial: S,
) =>
(version?: number): Program<S | HistoryEntry<S>> =>
  version === undefined ? readStored(table.map, table.key, decode, initial) : pipe(
    readStored(table.history, String(version), decodeHistory(decode), undefined),
    flatMapEither((entry) =>
      entry === undefined
        ? E.left(keyNotFound(`no proposal has set version ${version} of the ${table.key}`))
        : E.right(entry)
    ),
    // The governance transaction that applied the proposal wrote this version's history entry.
    flatMap((entry) =>
      perform(
        { _tag: "TransactionOf", map: table.history, key: String(version) },
        (transactionId) => of({ ...entry, transactionId }),
      )
    ),
  );

/** The key release policy in force (no rules, so deny, before governance sets one), or a version. */
export const readReleasePolicy = versioned(keyReleaseTable, decodeStoredPolicy, emptyStoredPolicy);

/** The rotation policy in force, or a version. */
export const readRotationPolicy = versioned(
  rotationTable,
  decodeWith(StoredRotationPolicy, "the stored rotation policy"),
  initialRotationPolicy,
);

/** The settings in force, or a version. */
export const readSettings = versioned(
  settingsTable,
  decodeWith(StoredSettings, "the stored settings"),
  initialSettings,
);

/** The JWT validation policy of `issuer`, undefined when governance set none. */
export const readJwtPolicy = (issuer: string): Program<JwtValidationPolicy | undefined> =>
  readStored<JwtValidationPolicy | undefined>(
    jwtValidationTable.map,
    issuer,
    decodeWith(JwtValidationPolicyCodec, "the stored JWT validation policy"),
    undefined,
  );

const lookupResult = (map: string, key: string, lookup: ReceiptLookup) =>
  lookup._tag === "Signed"
    ? E.right(lookup.receipt)
    : lookup._tag === "Pending"
    ? E.left(receiptNotReady("the receipt is not signed yet; retry in a second", 1))
    : E.left(internal(`no write of ${key} in ${map} to prove`));

/**
 * The receipts (JSON text) of the transactions that last wrote each of `keys` in `map`, each one
 * `ReceiptNotReady` while no signature covers it yet, as values: `/listpubkeys` skips keys whose
 * receipt is pending.
 */
export const receiptLookups = (
  map: string,
  keys: readonly string[],
): Program<E.Either<KmsError, string>[]> =>
  perform(
    { _tag: "Receipts", map, keys },
    (lookups) => of(lookups.map((lookup, i) => lookupResult(map, keys[i], lookup))),
  );

/** The receipt of the last write of `key` in `map`; the request fails while it is pending. */
export const receiptOf = (map: string, key: string): Program<string> =>
  perform(
    { _tag: "Receipts", map, keys: [key] },
    ([lookup]) => fromEither(lookupResult(map, key, lookup)),
  );
