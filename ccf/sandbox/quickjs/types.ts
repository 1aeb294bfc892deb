/** The public data types of the QuickJS app runtime. */
import type { TxStatus } from "../ledger/ledger.ts";
import type { KvTransaction } from "../kv.ts";
import type { HostValue } from "./values.ts";

export type { HostValue } from "./values.ts";
export type { TxStatus };

/** One request as the HTTP layer hands it to the app, after authentication. */
export interface AppRequest {
  /** HTTP method, any case. */
  readonly method: string;
  /** Path as received, with or without the `/app` prefix, without the query string. */
  readonly path: string;
  /** Raw query string without `?`; `""` or absent when there is none. */
  readonly query?: string;
  /** Request headers; names are lower-cased before the app sees them. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The request body, if any. */
  readonly body?: Uint8Array;
  /**
   * CCF's caller object built by authentication (`{policy: "jwt", jwt: {...}}`, ...), or `null`
   * for endpoints without authentication policies. Bytes become ArrayBuffers.
   */
  readonly caller?: HostValue;
}

/** A line the app wrote with `console`: `log`/`info` → info, `warn` → fail, `error` → fatal. */
export interface LogEntry {
  /** CCF's log level for the console method used. */
  readonly level: "info" | "fail" | "fatal";
  /** The logged text. */
  readonly message: string;
}

/** What the app answered, before the HTTP layer adds `x-ms-ccf-transaction-id`. */
export interface AppResponse {
  /** The HTTP status. */
  readonly status: number;
  /** Lower-cased names; `content-type` is set whenever there is a body. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body bytes. */
  readonly body: Uint8Array;
  /** Whether the caller should commit the transaction (2xx, or forced by `setApplyWrites`). */
  readonly applyWrites: boolean;
  /** Set by `ccf.rpc.setClaimsDigest`: the receipt's claims digest for this transaction. */
  readonly claimsDigest?: Uint8Array;
  /** `console` output of this request, also sent to the log sink. */
  readonly logs: readonly LogEntry[];
}

/** The state of the KV as of a historical transaction; app code reads it, never writes it. */
export type HistoricalKv = Pick<
  KvTransaction,
  "get" | "has" | "size" | "forEach" | "getVersionOfPreviousWrite"
>;

/** One entry of `ccf.historical.getStateRange`'s answer. */
export interface HistoricalState {
  /** `<view>.<seqno>`. */
  readonly transactionId: string;
  /** The JSON receipt object (CCF's JS form: signature, cert, node_id, leaf_components, proof). */
  readonly receipt: HostValue;
  /** The KV as of this transaction (app code sees it as a read-only `kv`); absent: no maps. */
  readonly kv?: HistoricalKv;
}

/** `ccf.consensus` as the node implements it. */
export interface ConsensusHooks {
  /** The last committed transaction id. */
  getLastCommittedTxId(): { readonly view: number; readonly seqno: number };
  /** The status of transaction `view.seqno`. */
  getStatusForTxId(view: number, seqno: number): TxStatus;
  /** The view of `seqno`, or null if unknown. */
  getViewForSeqno(seqno: number): number | null;
}

/** Node services a request may call; each defaults to something safe when absent. */
export interface RequestHooks {
  /**
   * `ccf.historical.getStateRange`: `null` while the states are not ready (the app answers 202),
   * otherwise `to - from + 1` states. Default: always `null`.
   */
  readonly getStateRange?: (
    handle: number,
    from: number,
    to: number,
    secondsUntilExpiry: number,
  ) => readonly HistoricalState[] | null;
  /**
   * The state a `mode: "historical"` endpoint runs on: `null` while it is fetched (the endpoint
   * answers 202). Default: `getStateRange(-1 - seqno, seqno, seqno, 1800)`, so its requests never
   * share a handle with the app's, which are non-negative.
   */
  readonly historicalStateAt?: (seqno: number) => HistoricalState | null;
  /** `ccf.historical.dropCachedStates`. Default: `false`. */
  readonly dropCachedStates?: (handle: number) => boolean;
  /** `ccf.consensus`. Default: everything up to the transaction's start is committed in view 2. */
  readonly consensus?: ConsensusHooks;
}

/** Limits and sinks of a runtime; the limits default to CCF's `js_runtime_options` defaults. */
export interface AppRuntimeOptions {
  /** Wall-clock budget of one request (module loading, handler, response conversion). */
  readonly maxExecutionTimeMs?: number;
  /** Heap limit of each interpreter. */
  readonly maxHeapBytes?: number;
  /** Stack limit of each interpreter. */
  readonly maxStackBytes?: number;
  /** Interpreters kept for `interpreter_reuse` keys (least recently used are dropped). */
  readonly maxCachedInterpreters?: number;
  /** Add `details: [{code: "JSException", message, trace}]` to 500 responses. */
  readonly returnExceptionDetails?: boolean;
  /** Send exception details of 500 responses to the log sink (level fail). */
  readonly logExceptionDetails?: boolean;
  /** Receives every `console` line (and exception details if asked). */
  readonly logSink?: (entry: LogEntry) => void;
  /** Source of `Math.random` (default: host CSPRNG). */
  readonly random?: () => number;
}

/** What one request may touch while it runs. */
export interface RequestScope {
  readonly tx: KvTransaction;
  readonly readOnly: boolean;
  readonly body: Uint8Array;
  readonly hooks: RequestHooks;
  readonly logs: LogEntry[];
  /** Historical KV states handed to app code in this request; index + 1 names one in the VM. */
  readonly historicalKvs: HistoricalKv[];
  applyWrites?: boolean;
  claimsDigest?: Uint8Array;
  /** A failure app code must not be able to catch (CCF raises a C++ exception there). */
  fatal?: string;
}
