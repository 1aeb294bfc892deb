/** The KMS state the endpoints read from the KV, each value decoded with its core codec. */
import type * as E from "fp-ts/lib/Either.js";
import {
  type JwtValidationPolicy,
  JwtValidationPolicy as JwtValidationPolicyCodec,
} from "../../core/attestation/jwtValidation.ts";
import { decodeWith } from "../../core/codec.ts";
import type { KmsError } from "../../core/errors.ts";
import { type KeyRecord, KeyRing, type PublishedKey } from "../../core/keys/record.ts";
import {
  decodeStoredPolicy,
  emptyStoredPolicy,
  type StoredKeyReleasePolicy,
} from "../../core/policy/keyRelease.ts";
import { initialRotationPolicy, StoredRotationPolicy } from "../../core/policy/rotation.ts";
import { initialSettings, StoredSettings } from "../../core/policy/settings.ts";
import {
  jwtValidationTable,
  keyReleaseTable,
  keyRingTable,
  keysTable,
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

/** The key release policy in force (no rules, so deny, before governance sets one). */
export const readReleasePolicy = (): E.Either<KmsError, StoredKeyReleasePolicy> =>
  readStored(keyReleaseTable.map, keyReleaseTable.key, decodeStoredPolicy, emptyStoredPolicy);

/** The rotation policy in force. */
export const readRotationPolicy = (): E.Either<KmsError, StoredRotationPolicy> =>
  readStored(
    rotationTable.map,
    rotationTable.key,
    decodeWith(StoredRotationPolicy, "the stored rotation policy"),
    initialRotationPolicy,
  );

/** The settings in force. */
export const readSettings = (): E.Either<KmsError, StoredSettings> =>
  readStored(
    settingsTable.map,
    settingsTable.key,
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
