/**
 * Governance tables beyond the shared layout of `govTables.ts`, which only governance reads and
 * writes, and small typed accessors over a transaction. Names are CCF's.
 */
import type { KvTransaction } from "../kv.ts";
import {
  constitution,
  type MemberInfo,
  membersInfo,
  type ProposalInfo,
  proposalsInfo,
  singletonKey,
} from "../govTables.ts";

/** Replay protection: key `"<created_at, 10 digits>:<hex SHA-256 of the signature>"`, value = proposal id. */
export const coseRecentProposals = "public:ccf.gov.cose_recent_proposals";
/** The last signed governance message of each member: key = member id, value = COSE bytes. */
export const coseHistory = "public:ccf.gov.cose_history";
/** Member acknowledgements: key = member id, value = JSON {@link MemberAck}. */
export const memberAcks = "public:ccf.gov.members.acks";
/** Members' recovery encryption keys: key = member id, value = PEM bytes. */
export const memberEncryptionKeys = "public:ccf.gov.members.encryption_public_keys";

/** The service's configuration: singleton, value = JSON {@link ServiceConfig}. */
export const serviceConfig = "public:ccf.gov.service.config";

/** The fields of CCF's service configuration that the sandbox reads or governance changes. */
export interface ServiceConfig {
  readonly recovery_threshold: number;
  readonly maximum_node_certificate_validity_days: number;
  readonly maximum_service_certificate_validity_days: number;
  /** How many recent proposals replay protection remembers. */
  readonly recent_cose_proposals_window_size: number;
  readonly reconfiguration_type?: string;
}

/** CCF's defaults, as a new service starts with them. */
export const DEFAULT_SERVICE_CONFIG: ServiceConfig = {
  recovery_threshold: 1,
  maximum_node_certificate_validity_days: 365,
  maximum_service_certificate_validity_days: 365,
  recent_cose_proposals_window_size: 100,
};

/** The service configuration, the defaults filling what is not stored. */
export function readServiceConfig(tx: KvTransaction): ServiceConfig {
  return {
    ...DEFAULT_SERVICE_CONFIG,
    ...readJson<Partial<ServiceConfig>>(tx, serviceConfig, singletonKey),
  };
}

/** Records the default service configuration unless the service has one. */
export function ensureServiceConfig(tx: KvTransaction): void {
  if (tx.get(serviceConfig, singletonKey) !== undefined) return;
  tx.set(serviceConfig, singletonKey, utf8(JSON.stringify(DEFAULT_SERVICE_CONFIG)));
}

/** A member's acknowledgement record: the digest it must sign to become Active. */
export interface MemberAck {
  readonly state_digest: string;
  /** Base64 of the COSE_Sign1 ack that activated the member. */
  readonly cose_sign1_req?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a key or value. */
export const utf8 = (s: string): Uint8Array => encoder.encode(s);
/** The string of UTF-8 bytes. */
export const fromUtf8 = (b: Uint8Array): string => decoder.decode(b);

/** A JSON value of `map` at string key `key`, or `undefined`. */
export function readJson<T>(
  tx: KvTransaction,
  map: string,
  key: string | Uint8Array,
): T | undefined {
  const raw = tx.get(map, typeof key === "string" ? utf8(key) : key);
  return raw === undefined ? undefined : JSON.parse(fromUtf8(raw)) as T;
}

/** Writes `value` as JSON at string key `key` of `map`. */
export function writeJson(tx: KvTransaction, map: string, key: string, value: unknown): void {
  tx.set(map, utf8(key), utf8(JSON.stringify(value)));
}

/** The constitution in force, or `undefined` when none is set. */
export function readConstitution(tx: KvTransaction): string | undefined {
  const raw = tx.get(constitution, singletonKey);
  return raw === undefined ? undefined : JSON.parse(fromUtf8(raw)) as string;
}

/** Sets the constitution (stored as a JSON string, as CCF does). */
export function writeConstitution(tx: KvTransaction, source: string): void {
  tx.set(constitution, singletonKey, utf8(JSON.stringify(source)));
}

/** A member's info, or `undefined` for an unknown id. */
export const readMember = (tx: KvTransaction, id: string): MemberInfo | undefined =>
  readJson<MemberInfo>(tx, membersInfo, id);

/** A proposal's state, or `undefined` for an unknown id. */
export const readProposalInfo = (tx: KvTransaction, id: string): ProposalInfo | undefined =>
  readJson<ProposalInfo>(tx, proposalsInfo, id);

/** Every entry of `map` as [string key, value bytes], sorted by key. */
export function entries(tx: KvTransaction, map: string): Array<[string, Uint8Array]> {
  const rows: Array<[string, Uint8Array]> = [];
  tx.forEach(map, (value, key) => rows.push([fromUtf8(key), value]));
  return rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
