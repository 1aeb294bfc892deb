/**
 * The KMS's storage schema in CCF's KV: map names and singleton keys shared by the application,
 * which reads them, and the constitution actions, which write the governance ones.
 */

/**
 * Public records of every key ever created, by index (decimal string): the history, and the
 * transactions whose receipts prove each key.
 */
export const keysTable = "public:kms.keys";
/**
 * The key ring: the newest key of each OHTTP key id, which includes every key that can still be
 * released. Requests read this one bounded value (at most 256 keys) instead of the whole history.
 */
export const keyRingTable = { map: "public:kms.key_ring", key: "key_ring" } as const;
/** Private parts of every key, by index; a private map is encrypted in the ledger. */
export const privateKeysTable = "kms.private_keys";

/** A governance-managed policy: its map, the key of its current value, and its history map. */
export interface PolicyTable {
  readonly map: string;
  readonly key: string;
  readonly history: string;
}

const policyTable = (name: string, key: string): PolicyTable => ({
  map: `public:ccf.gov.policies.${name}`,
  key,
  history: `public:ccf.gov.policies.${name}_history`,
});

/** The key release policy. */
export const keyReleaseTable = policyTable("key_release", "key_release_policy");
/** The settings policy. */
export const settingsTable = policyTable("settings", "settings_policy");
/** The key rotation policy. */
export const rotationTable = policyTable("key_rotation", "key_rotation_policy");
/** JWT validation policies: one entry per issuer, keyed by the issuer itself. */
export const jwtValidationTable = "public:ccf.gov.policies.jwt_validation";
/** Every accepted JWT validation policy change, keyed by the proposal that made it. */
export const jwtValidationHistoryTable = `${jwtValidationTable}_history`;
