/**
 * The KMS's storage schema in CCF's KV, shared by the application, which reads it, and the
 * constitution actions, which write the governance part. Every table is named the same way: its
 * map, the key of its value when it holds one value, and its history map when governance keeps
 * every version. Map names follow CCF's rules: `public:` maps are readable in the ledger, others
 * are encrypted; constitution actions may only write `public:ccf.gov.` maps.
 */

/** A KV map of the KMS. */
export interface Table {
  /** The map's name. */
  readonly map: string;
}

/** A map that holds one value, under `key`. */
export interface SingletonTable extends Table {
  /** The key of the value. */
  readonly key: string;
}

/** A governance-managed policy: its map and key, and the map of its versions. */
export interface PolicyTable extends SingletonTable {
  /** Every version a proposal set, by version number. */
  readonly history: string;
}

/**
 * Public records of every key ever created, by index (decimal string): the history, and the
 * transactions whose receipts prove each key.
 */
export const keysTable: Table = { map: "public:kms.keys" };
/**
 * The key ring: the newest key of each OHTTP key id, which includes every key that can still be
 * released. Requests read this one bounded value (at most 256 keys) instead of the whole history.
 */
export const keyRingTable: SingletonTable = { map: "public:kms.key_ring", key: "key_ring" };
/**
 * Records of every key release, by release number (decimal string): each the JSON text that the
 * release transaction's claims digest binds (see core/api/releaseRecord.ts).
 */
export const releasesTable: Table = { map: "public:kms.releases" };
/** How many releases are recorded: the next release's number. */
export const releaseCountTable: SingletonTable = { map: "public:kms.release_count", key: "count" };
/** Private parts of every key, by index; a private map is encrypted in the ledger. */
export const privateKeysTable: Table = { map: "kms.private_keys" };

const governed = (name: string) => `public:ccf.gov.policies.${name}`;

const policyTable = (name: string, key: string): PolicyTable => ({
  map: governed(name),
  key,
  history: governed(`${name}_history`),
});

/** The key release policy. */
export const keyReleaseTable = policyTable("key_release", "key_release_policy");
/** The settings policy. */
export const settingsTable = policyTable("settings", "settings_policy");
/** The key rotation policy. */
export const rotationTable = policyTable("key_rotation", "key_rotation_policy");
/**
 * JWT validation policies: one entry per issuer, keyed by the issuer itself; the history keeps
 * every accepted change, keyed by the proposal that made it.
 */
export const jwtValidationTable: Table & { readonly history: string } = {
  map: governed("jwt_validation"),
  history: governed("jwt_validation_history"),
};
