/** The KMS state the endpoints read from the KV, each value decoded with its core codec. */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as t from "io-ts";
import {
  type JwtValidationPolicy,
  JwtValidationPolicy as JwtValidationPolicyCodec,
} from "../../core/attestation/jwtValidation.ts";
import { decodeWith } from "../../core/codec.ts";
import { invalidInput, keyNotFound, type KmsError } from "../../core/errors.ts";
import { type KeyRecord, KeyRing, type PublishedKey } from "../../core/keys/record.ts";
import { decodeStoredPolicy, emptyStoredPolicy } from "../../core/policy/keyRelease.ts";
import { initialRotationPolicy, StoredRotationPolicy } from "../../core/policy/rotation.ts";
import { initialSettings, StoredSettings } from "../../core/policy/settings.ts";
import {
  jwtValidationTable,
  keyReleaseTable,
  keyRingTable,
  keysTable,
  type PolicyTable,
  rotationTable,
  settingsTable,
} from "../../core/tables.ts";
import { readStored, receiptOf } from "./platform.ts";

/** The key ring: the newest key of each OHTTP key id (every releasable key among them). */
export const loadKeys = (): E.Either<KmsError, PublishedKey[]> =>
  readStored(keyRingTable.map, keyRingTable.key, decodeWith(KeyRing, "the key ring"), []);

/** The receipt of the transaction that created `key`. */
export const keyReceipt = (key: KeyRecord): E.Either<KmsError, string> =>
  receiptOf(keysTable, String(key.index));

/** A stored governance value as its history keeps it: with the proposal that set it. */
type HistoryEntry<S> = S & { readonly proposalId: string };

/**
 * A versioned policy: the one in force (`initial` before governance set one), or with `version`
 * the one that version's proposal set, read from the history its constitution action keeps.
 */
const versioned = <S extends { readonly version: number; readonly policy: unknown }>(
  table: PolicyTable,
  decode: (u: unknown) => E.Either<KmsError, S>,
  initial: S,
) =>
(version?: number): E.Either<KmsError, S | HistoryEntry<S>> =>
  version === undefined ? readStored(table.map, table.key, decode, initial) : pipe(
    readStored(table.history, String(version), decodeHistory(decode), undefined),
    E.flatMap((entry) =>
      entry === undefined
        ? E.left(keyNotFound(`no proposal has set version ${version} of the ${table.key}`))
        : E.right(entry)
    ),
  );

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
export const readJwtPolicy = (
  issuer: string,
): E.Either<KmsError, JwtValidationPolicy | undefined> =>
  readStored<JwtValidationPolicy | undefined>(
    jwtValidationTable,
    issuer,
    decodeWith(JwtValidationPolicyCodec, "the stored JWT validation policy"),
    undefined,
  );
