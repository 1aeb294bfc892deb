/**
 * Types of the code that runs inside QuickJS (`prelude.js`, `governancePrelude.js`): the host
 * objects it receives, as it sees them there. The Deno side builds them in `hostBridge.ts` and
 * `governanceContext.ts`, whose tables of functions are keyed by these interfaces, so that a
 * function added on one side and not the other fails `deno check`.
 */
import type { KeyPairPem } from "../hostCrypto.ts";
import type { MapPermission } from "./kvPermissions.ts";
import type { LogEntry } from "./types.ts";

/** The `kind` of a JWK conversion: key type and whether the key is private. */
export type JwkKind =
  | "ec-public"
  | "ec-private"
  | "rsa-public"
  | "rsa-private"
  | "eddsa-public"
  | "eddsa-private";

/** CCF's log level of a console method. */
export type LogLevel = LogEntry["level"];

/** The host object `H` of the prelude: arguments arrive counted and type-checked. */
export interface Host {
  log(level: LogLevel, message: string): void;
  random(): number;
  strToBuf(s: string): ArrayBuffer;
  bufToStr(b: ArrayBuffer): string;
  pemToId(pem: string): string;
  sign(name: string, hash: string, key: string, data: ArrayBuffer, salt: number): ArrayBuffer;
  verify(
    name: string,
    hash: string,
    key: string,
    signature: ArrayBuffer,
    data: ArrayBuffer,
    salt: number,
  ): boolean;
  /** The JWK as JSON. */
  pemToJwk(kind: JwkKind, pem: string, kid: string | undefined): string;
  /** `json` is the JWK as JSON. */
  jwkToPem(kind: JwkKind, json: string): string;
  generateAesKey(bits: number): ArrayBuffer;
  generateRsaKeyPair(bits: number, exponent: number): KeyPairPem;
  generateEcdsaKeyPair(curve: string): KeyPairPem;
  generateEddsaKeyPair(curve: string): KeyPairPem;
  wrapKey(
    key: ArrayBuffer,
    wrappingKey: ArrayBuffer,
    name: string,
    label: ArrayBuffer | undefined,
    aesKeySize: number,
  ): ArrayBuffer;
  unwrapKey(
    key: ArrayBuffer,
    unwrappingKey: ArrayBuffer,
    name: string,
    label: ArrayBuffer | undefined,
    aesKeySize: number,
  ): ArrayBuffer;
  digest(data: ArrayBuffer): ArrayBuffer;
  isValidX509CertBundle(pem: string): boolean;
  isValidX509CertChain(chain: string, trusted: string): boolean;

  /**
   * The permission on map `name` and the name of the execution context, for error messages.
   * `source` 0 is the request's transaction, n > 0 the n-th historical state of the request.
   */
  kvAccess(source: number, name: string): [MapPermission, string];
  kvHas(source: number, name: string, key: ArrayBuffer): boolean;
  kvGet(source: number, name: string, key: ArrayBuffer): ArrayBuffer | undefined;
  kvVersion(source: number, name: string, key: ArrayBuffer): number | undefined;
  kvSize(source: number, name: string): number;
  /** `[value, key, value, key, ...]`. */
  kvEntries(source: number, name: string): ArrayBuffer[];
  kvSet(name: string, key: ArrayBuffer, value: ArrayBuffer): void;
  kvDelete(name: string, key: ArrayBuffer): void;
  kvClear(name: string): void;

  setApplyWrites(apply: boolean): void;
  setClaimsDigest(digest: ArrayBuffer): void;
  /** States as `{transactionId, receipt, kv}`, `kv` the `source` number of its KV. */
  getStateRange(handle: number, from: number, to: number, expiry: number): HostState[] | null;
  dropCachedStates(handle: number): boolean;
  getLastCommittedTxId(): { view: number; seqno: number };
  getStatusForTxId(view: number, seqno: number): string;
  getViewForSeqno(seqno: number): number | null;
  bodyText(): string;
  bodyBuffer(): ArrayBuffer;
}

/** A historical state as the host hands it over: `kv` is the KV's `source` number. */
export interface HostState {
  transactionId: string;
  receipt: unknown;
  kv: number;
}

/** `[0]` (not an object), `[1, message, error text, stack]` or `[2, body, type, headers, status]`. */
export type ResponseReading =
  | [0]
  | [1, string, string, string | undefined]
  | [2, ArrayBuffer | string | undefined, string | undefined, string[], unknown];

/** What the prelude returns to the host: the per-request internals, out of app code's reach. */
export interface PreludeInternals {
  /**
   * The request object from the JSON of its metadata (`RequestMeta`): one string crosses into QuickJS
   * and is parsed there, which costs less than building the object handle by handle.
   */
  makeRequest(meta: string, caller: unknown): unknown;
  /** Sets (or, given `undefined`, removes) `ccf.historicalState`. */
  setHistoricalState(state: HostState | undefined): void;
  readResponse(value: unknown): ResponseReading;
}

/**
 * The host object `G` of the governance prelude: CCF's governance effects, with their JSON
 * arguments already serialised (only `apply` gets them).
 */
export interface GovernanceHost {
  setJwtPublicSigningKeys(issuer: string, metadata: string, jwks: string): void;
  removeJwtPublicSigningKeys(issuer: string): void;
  refreshAppBytecodeCache(): void;
}
