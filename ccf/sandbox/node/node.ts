/**
 * The sandbox node: one CCF node's request pipeline over the KV store, the ledger and the QuickJS
 * app runtime, independent of HTTP (server.ts puts HTTPS in front of it).
 *
 * Each app request is one KV transaction, in one synchronous section with no `await`: authenticate
 * (against the committed governance tables), begin, run the handler, commit if CCF would keep the
 * writes, append the commit to the ledger. JavaScript runs one synchronous section at a time, so
 * two writers can never interleave between begin and commit: there are no lost updates and no two
 * requests can pick the same key id. Optimistic conflicts therefore do not happen in practice;
 * should a commit still conflict it is re-executed, a bounded number of times, as CCF does.
 *
 * Signature transactions record the ledger's `signatureRecord()` in
 * `public:ccf.internal.signatures`: every `signatureIntervalMs` while transactions are pending,
 * and at once when `signatureTxInterval` transactions are pending. A signature is fsynced before
 * it counts, so what is `Committed` (and has a receipt) survives a crash; the unsigned tail may
 * not, and is dropped on restart (ledger/ledger.ts). Writes are acknowledged before they are
 * signed, as on CCF: clients that need durability poll `/tx` for `Committed`.
 *
 * Historical queries go through the node's own cache (network/historical.ts): `getStateRange`
 * answers `null` until this node has fetched the range, as a CCF node does on first use.
 *
 * In a network of several nodes (`cluster`, see network/network.ts) a node is the primary or a
 * backup for its whole life (a promotion starts a new node on the same files). The primary
 * writes, signs and refreshes JWT keys, and hands every transaction to the network for the
 * backups; a backup applies what it is replicated, forwards the requests CCF forwards
 * (`forwarding_required: "always"`, `"sometimes"` once its session was forwarded, governance
 * writes) and refuses to commit the writes of the others with CCF's 503. Signatures then commit
 * only once the network acknowledges that a majority holds them.
 *
 * A restart replays the ledger into a fresh store (same seqnos, same state), loads the app from
 * the modules/endpoints tables and, as the service's writer, opens a new view with a signature
 * ({@link SandboxNode.openView}), as a CCF service does on recovery. A ledger that fails its
 * integrity checks stops the start (ledger/ledger.ts) unless `recoverToLastGoodSignature` is set.
 */
import {
  DEFAULT_VIEW,
  type KvCommit,
  KvConflictError,
  KvStore,
  type KvTransaction,
} from "../kv.ts";
import {
  Ledger,
  type LedgerEntry,
  type LedgerReceipt,
  type LedgerRecovery,
} from "../ledger/ledger.ts";
import { encodeSignatureRecord, signatureKey, SIGNATURES_MAP } from "../ledger/signature.ts";
import { jwtIssuers, membersCerts, serviceInfo, singletonKey, usersCerts } from "../govTables.ts";
import {
  type AppRequest,
  type AppRuntime,
  type AppRuntimeOptions,
  BundleError,
  createAppRuntime,
  type EndpointInfo,
  type HostValue,
  type LogEntry,
  type RequestHooks,
} from "../quickjs/mod.ts";
import { APP_TABLES, readAppBundle, readRuntimeOptions } from "./appTables.ts";
import { authenticate } from "./auth.ts";
import type { ClusterLink, NetworkDescription } from "./cluster.ts";
import { appBuiltin, type BuiltinContext, nodeBuiltin } from "./builtins.ts";
import { type GenesisInfo, writeGenesis } from "./genesis.ts";
import { DEFAULT_JWT_KEY_REFRESH_INTERVAL_S, JwtKeyRefresher } from "./jwtRefresh.ts";
import { HistoricalCache } from "../network/historical.ts";
import { isRecorded, type RecordedNode, recordNode } from "./nodesTable.ts";
import { nodeSigner } from "./signer.ts";
import {
  fromUtf8,
  type KvLookup,
  type NodeRequest,
  type NodeResponse,
  odataResponse,
  utf8,
} from "./types.ts";
import { prepareWorkspace, type Workspace } from "./workspace.ts";

/** Serves `/gov/...` requests; installed by the governance module. */
export type GovernanceHandler = (
  request: NodeRequest,
) => Promise<Response | NodeResponse> | Response | NodeResponse;

/** How to start a node. */
export interface SandboxNodeOptions {
  /** The workspace directory, created or reused (workspace.ts). */
  readonly workspace: string;
  /** Members to create and, on first start, register as Active (default 3). */
  readonly members?: number;
  /** Users to create and, on first start, register (default 1). */
  readonly users?: number;
  /** Milliseconds between signature transactions while transactions are pending (default 1000; 0: none). */
  readonly signatureIntervalMs?: number;
  /** Pending transactions that trigger a signature at once (default 5000, CCF's `sig_tx_interval`). */
  readonly signatureTxInterval?: number;
  /** Executions of a request whose commit keeps conflicting before it fails with 503 (default 10). */
  readonly maxAttempts?: number;
  /**
   * Extra writes of the genesis transaction, after the default ones (members, users, service
   * info, placeholder constitution): governance installs its constitution here.
   */
  readonly genesisWrites?: (tx: KvTransaction, info: GenesisInfo) => void;
  /** App runtime options that override `js_runtime_options` (log sink is the node's). */
  readonly runtimeOptions?: Omit<AppRuntimeOptions, "logSink">;
  /** Receives the node's log lines (default: `console.log`). */
  readonly log?: (line: string) => void;
  /** Receives the app's `console` lines (default: {@link log}, prefixed with `app <level>:`). */
  readonly appLog?: (entry: LogEntry) => void;
  /** Host time in milliseconds, for JWT and certificate validity (default `Date.now`). */
  readonly clock?: () => number;
  /**
   * Seconds between JWT key auto-refreshes of issuers with `auto_refresh` (CCF's
   * `jwt.key_refresh_interval_s`, default 1800); 0 turns them off (jwtRefresh.ts).
   */
  readonly jwtKeyRefreshIntervalS?: number;
  /**
   * Milliseconds this node takes to fetch a range of historical states: until then
   * `ccf.historical.getStateRange` answers `null`, as CCF's does on a first call (default 50).
   */
  readonly historicalFetchMs?: number;
  /** Which node of the network this is (default 0): its files are in `sandbox_<node>`. */
  readonly node?: number;
  /**
   * The view the node starts in as the writer, at least (default: the one after its ledger's
   * last, or CCF's first view on a new ledger).
   */
  readonly view?: number;
  /**
   * Start on a ledger damaged at or before its last signature by cutting it back to the last good
   * signature (committed transactions are lost; the removed bytes are kept beside the ledger).
   * Without it, such a ledger stops the start with a `LedgerIntegrityError`.
   */
  readonly recoverToLastGoodSignature?: boolean;
  /** Its part in a network of several nodes; absent, it is a one-node service. */
  readonly cluster?: ClusterLink;
}

const DEFAULT_MEMBERS = 3;
const DEFAULT_USERS = 1;
const DEFAULT_SIGNATURE_INTERVAL_MS = 1000;
const DEFAULT_SIGNATURE_TX_INTERVAL = 5000;
const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_HISTORICAL_FETCH_MS = 50;
/** How long the node keeps a state its own historical endpoints fetched (CCF's default expiry). */
const SYSTEM_EXPIRY_S = 1800;
const TX_ID_HEADER = "x-ms-ccf-transaction-id";

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Where the node's log lines go. */
const logOf = (options: SandboxNodeOptions): (line: string) => void =>
  options.log ?? ((line) => console.log(line));

/** Strips CCF's `/app` actor prefix. */
const appLocalPath = (path: string): string =>
  path === "/app" ? "/" : path.startsWith("/app/") ? path.slice(4) : path;

/** See the module documentation. */
export class SandboxNode {
  readonly #workspace: Workspace;
  readonly #store: KvStore;
  readonly #ledger: Ledger;
  readonly #recovery: LedgerRecovery | null;
  readonly #options: SandboxNodeOptions;
  readonly #log: (line: string) => void;
  readonly #hooks: RequestHooks;
  readonly #historical: HistoricalCache;
  /** The cache of the node's own historical endpoints (`/receipt`): CCF keeps their handles apart. */
  readonly #systemHistorical: HistoricalCache;
  #builtins: BuiltinContext;
  #runtime: AppRuntime | null = null;
  #reload: Promise<void> = Promise.resolve();
  #governance: GovernanceHandler | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #failure: string | undefined;
  #jwtRefresh: JwtKeyRefresher | undefined;
  #closed: Promise<void> | undefined;
  #address = "";

  private constructor(
    workspace: Workspace,
    store: KvStore,
    ledger: Ledger,
    recovery: LedgerRecovery | null,
    options: SandboxNodeOptions,
  ) {
    this.#workspace = workspace;
    this.#store = store;
    this.#ledger = ledger;
    this.#recovery = recovery;
    this.#options = options;
    this.#log = logOf(options);
    const source = {
      receiptFor: (seqno: number) => ledger.receiptFor(seqno),
      transactionId: (seqno: number) => `${ledger.viewOf(seqno)}.${seqno}`,
      writesOf: (seqno: number) => ledger.writesOf(seqno),
    };
    const fetching = {
      fetchDelayMs: options.historicalFetchMs ?? DEFAULT_HISTORICAL_FETCH_MS,
      clock: () => this.#now(),
    };
    this.#historical = new HistoricalCache(source, fetching);
    this.#systemHistorical = new HistoricalCache(source, fetching);
    this.#hooks = this.#requestHooks();
    this.#builtins = {
      ledger,
      serviceCertPem: workspace.serviceCertPem,
      nodeId: workspace.nodeId,
      serviceCreateTxId: "",
      endpoints: () => this.#runtime?.endpoints() ?? [],
      network: () => this.#network(),
      historicalReceipt: (seqno) => {
        const states = this.#systemHistorical.getStateRange(seqno, seqno, seqno, SYSTEM_EXPIRY_S);
        return states ? states[0].receipt as unknown as LedgerReceipt : null;
      },
    };
  }

  /**
   * Prepares the workspace, opens and replays the ledger (running the genesis transaction on a
   * new one), loads the deployed app and starts the signature timer.
   */
  static async start(options: SandboxNodeOptions): Promise<SandboxNode> {
    const workspace = await prepareWorkspace({
      dir: options.workspace,
      members: options.members ?? DEFAULT_MEMBERS,
      users: options.users ?? DEFAULT_USERS,
      node: options.node,
    });
    const signer = nodeSigner(workspace.nodeKeyPem, workspace.nodeCertPem, workspace.nodeId);
    const log = logOf(options);
    const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    const started = performance.now();
    const opened = Ledger.open(workspace.paths.ledgerDir, {
      signer,
      serviceCertPem: workspace.serviceCertPem,
      recoverToLastGoodSignature: options.recoverToLastGoodSignature,
      progress: (done, total) => log(`ledger: verified ${mib(done)} of ${mib(total)} MiB`),
    });
    const seconds = (performance.now() - started) / 1000;
    if (seconds >= 1) {
      log(`ledger: replayed ${opened.entries.length} transactions in ${seconds.toFixed(1)} s`);
    }
    const primary = options.cluster?.primary ?? true;
    if (primary) opened.ledger.beginView(options.view ?? DEFAULT_VIEW);
    const store = new KvStore({ view: opened.ledger.view });
    for (const entry of opened.entries) store.replay(entry.seqno, entry.writes);
    if (options.cluster) opened.ledger.holdCommits(options.cluster.committed);
    const node = new SandboxNode(workspace, store, opened.ledger, opened.recovery, options);
    try {
      for (const change of workspace.changes) node.#log(`workspace: ${change}`);
      if (opened.recovery) node.#log(opened.recovery.message);
      if (opened.entries.length === 0) {
        if (!primary) {
          throw new Error("A backup starts from a copy of its primary's ledger, not an empty one");
        }
        node.#genesis();
      } else if (!options.cluster) {
        node.openView();
      }
      node.#warnUnregistered();
      node.#builtins = { ...node.#builtins, serviceCreateTxId: node.#serviceCreateTxId() };
      node.#reload = node.#loadApp();
      await node.#reload;
    } catch (e) {
      opened.ledger.close();
      throw e;
    }
    const interval = options.signatureIntervalMs ?? DEFAULT_SIGNATURE_INTERVAL_MS;
    // A backup neither signs nor refreshes keys: it applies what its primary writes.
    if (!node.isPrimary) return node;
    if (interval > 0) node.#timer = setInterval(() => node.#signIfPending(), interval);
    const refreshS = options.jwtKeyRefreshIntervalS ?? DEFAULT_JWT_KEY_REFRESH_INTERVAL_S;
    if (refreshS > 0) {
      node.#jwtRefresh = new JwtKeyRefresher(node, { intervalS: refreshS, log: node.#log });
      node.#jwtRefresh.start();
    }
    return node;
  }

  /** Whether this node writes: a one-node service's node, or a network's primary. */
  get isPrimary(): boolean {
    return this.#options.cluster?.primary ?? true;
  }

  /** Where the node listens (`127.0.0.1:<port>`), for `/node/network/nodes`; set by its server. */
  setAddress(address: string): void {
    this.#address = address;
  }

  /**
   * Applies transactions its primary replicated, in order, as a backup does: into the KV and
   * the ledger, reloading the app when they deploy one.
   */
  replicate(entries: readonly LedgerEntry[]): void {
    this.#assertServing();
    if (this.isPrimary) throw new Error("The primary is not replicated to");
    for (const entry of entries) {
      const commit = this.#store.replay(entry.seqno, entry.writes, entry.view);
      this.#append(commit, entry.claimsDigest);
      if (commit.writes.some((w) => APP_TABLES.includes(w.map))) {
        this.#reload = this.#reload.then(() => this.#loadApp());
      }
    }
  }

  /** The network holds every transaction up to `seqno`: signatures up to there commit. */
  acknowledge(seqno: number): void {
    this.#ledger.acknowledge(seqno);
  }

  /** The workspace: paths, service and node certificates, members and users. */
  get workspace(): Workspace {
    return this.#workspace;
  }

  /** PEM of the service certificate, which endorses the node certificate. */
  get serviceCertPem(): string {
    return this.#workspace.serviceCertPem;
  }

  /** The ledger: receipts, transaction statuses, Merkle roots. */
  get ledger(): Ledger {
    return this.#ledger;
  }

  /** What the ledger cut from its file at start (torn or unsigned tail), or `null`. */
  get recovery(): LedgerRecovery | null {
    return this.#recovery;
  }

  /** `<view>.<seqno>` of the last transaction applied to the KV. */
  get lastTxId(): string {
    return this.#store.lastTxId;
  }

  /** The deployed app's endpoints ([] when none is deployed). */
  get appEndpoints(): readonly EndpointInfo[] {
    return this.#runtime?.endpoints() ?? [];
  }

  /** A committed value, by UTF-8 string key (governance tables) or bytes. */
  read(map: string, key: string | Uint8Array): Uint8Array | undefined {
    return this.#store.get(map, typeof key === "string" ? utf8(key) : key);
  }

  /**
   * A transaction over the committed state, for reads that need iteration or versions. It is
   * never committed: writes to it are discarded; use {@link commitGovernance} to write.
   */
  readTransaction(): KvTransaction {
    return this.#store.begin();
  }

  /** Installs (or, with `null`, removes) the handler of `/gov/...` requests. */
  setGovernanceHandler(handler: GovernanceHandler | null): void {
    this.#governance = handler;
  }

  /**
   * Runs `fn` on a transaction with access to every map, commits it and appends it to the ledger;
   * returns the commit, or `null` when `fn` wrote nothing. When the app tables changed, the app is
   * reloaded before the next request is served ({@link appReady} resolves once it is). If `fn`
   * throws, nothing is written and the error propagates.
   */
  commitGovernance(fn: (tx: KvTransaction) => void): KvCommit | null {
    this.#assertServing();
    if (!this.isPrimary) throw new Error("Only the primary commits: this node is a backup");
    const attempts = this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    for (let attempt = 1;; attempt++) {
      const tx = this.#store.begin();
      fn(tx);
      let commit: KvCommit | null;
      try {
        commit = this.#store.commit(tx);
      } catch (e) {
        if (e instanceof KvConflictError && attempt < attempts) continue;
        throw e;
      }
      if (commit === null) return null;
      this.#record(commit);
      if (commit.writes.some((w) => APP_TABLES.includes(w.map))) {
        this.#reload = this.#reload.then(() => this.#loadApp());
      }
      // As CCF's hook on jwt.issuers: a newly set issuer gets its keys without waiting.
      if (commit.writes.some((w) => w.map === jwtIssuers)) this.#jwtRefresh?.scheduleOnce();
      return commit;
    }
  }

  /** Resolves once the app matches the committed modules/endpoints tables. */
  appReady(): Promise<void> {
    return this.#reload;
  }

  /**
   * Opens the writer's view on an existing ledger: records the node's certificate if the ledger
   * does not have it (a renewed certificate), since replay accepts only signatures by recorded
   * nodes, then commits a signature, so that the new view is the committed one and the ids of a
   * lost tail read `Invalid`. The network calls it once a node is its primary.
   */
  openView(): void {
    const self: RecordedNode = {
      nodeId: this.#workspace.nodeId,
      certPem: this.#workspace.nodeCertPem,
    };
    if (!isRecorded(this.readTransaction(), self)) {
      this.commitGovernance((tx) => recordNode(tx, self));
    }
    this.emitSignature(true);
    this.#log(`view ${this.#ledger.view} opened at ${this.#store.lastTxId}`);
  }

  /**
   * Commits a signature transaction now if any transaction is pending, or with `force` even if
   * none is (a new primary opens its view with one, as CCF's does); returns it, or `null` when
   * there was nothing to sign.
   */
  emitSignature(force = false): KvCommit | null {
    this.#assertServing();
    return this.#sign(force);
  }

  #sign(force = false): KvCommit | null {
    if (!this.isPrimary || this.#ledger.size === 0) return null;
    if (this.#ledger.pendingSinceSignature === 0 && !force) return null;
    const tx = this.#store.begin();
    tx.set(SIGNATURES_MAP, signatureKey(), encodeSignatureRecord(this.#ledger.signatureRecord()));
    const commit = this.#store.commit(tx)!;
    this.#append(commit);
    return commit;
  }

  /** Serves one request; every response carries `x-ms-ccf-transaction-id`. */
  async handle(request: NodeRequest): Promise<NodeResponse> {
    let response: NodeResponse;
    try {
      response = await this.#dispatch(request);
    } catch (e) {
      this.#log(`error: ${request.method} ${request.path}: ${errorText(e)}`);
      response = odataResponse(500, "InternalError", "The node failed to process the request.");
    }
    if (response.headers[TX_ID_HEADER] !== undefined) return response;
    return { ...response, headers: { ...response.headers, [TX_ID_HEADER]: this.#store.lastTxId } };
  }

  /**
   * Stops the signature timer, signs what is pending, closes the ledger and frees the app
   * runtime. Further requests get 503.
   */
  close(): Promise<void> {
    return this.#shutDown(true);
  }

  /**
   * Stops as a crashed node would: no final signature, so what it did not sign (or, in a
   * network, replicate) is lost. Further requests get 503.
   */
  kill(): Promise<void> {
    return this.#shutDown(false);
  }

  #shutDown(sign: boolean): Promise<void> {
    return this.#closed ??= (async () => {
      clearInterval(this.#timer);
      this.#historical.clear();
      this.#systemHistorical.clear();
      await this.#jwtRefresh?.stop();
      await this.#reload.catch(() => {});
      if (sign && this.#failure === undefined) {
        try {
          this.#sign();
        } catch (e) {
          this.#log(`error: final signature: ${errorText(e)}`);
        }
      }
      this.#ledger.close();
      this.#runtime?.dispose();
      this.#runtime = null;
    })();
  }

  #assertServing(): void {
    if (this.#failure !== undefined) {
      throw new Error(`The node stopped recording transactions: ${this.#failure}`);
    }
    if (this.#closed) throw new Error("The node is closed");
  }

  async #dispatch(request: NodeRequest): Promise<NodeResponse> {
    if (this.#closed) return odataResponse(503, "ServiceUnavailable", "The node is stopping.");
    if (this.#failure !== undefined) {
      return odataResponse(500, "InternalError", "The node stopped recording transactions.");
    }
    const { method, path, query } = request;
    if (path === "/gov" || path.startsWith("/gov/")) {
      // CCF's governance reads are read-only endpoints; every other one writes.
      if (this.#forwards(request, method === "GET" ? "sometimes" : "always")) {
        return await this.#forward(request);
      }
      return await this.#serveGovernance(request);
    }
    if (path.startsWith("/node/")) {
      return nodeBuiltin(this.#builtins, method, path, query) ?? notFound(path);
    }
    await this.#reload;
    // Nothing below awaits before the handler runs: the runtime that routes a request runs it.
    const runtime = this.#runtime;
    const match = runtime?.route(method, path);
    if (!runtime || !match || match.kind === "notFound") {
      return appBuiltin(this.#builtins, method, appLocalPath(path), query) ??
        notFound(appLocalPath(path));
    }
    if (match.kind !== "endpoint") {
      return toNodeResponse(runtime.handle(this.#appRequest(request, null), this.#store.begin()));
    }
    // As CCF, a backup forwards before authenticating: the primary authenticates the caller.
    const forwarding = match.endpoint.properties.forwarding_required ?? "sometimes";
    if (this.#forwards(request, forwarding)) return await this.#forward(request);
    const auth = authenticate(match.endpoint.properties.authn_policies, {
      headers: request.headers,
      clientCert: request.clientCert,
      body: request.body,
      kv: this.#lookup,
      now: Math.floor(this.#now() / 1000),
    });
    if (!auth.ok) return auth.response;
    return this.#execute(runtime, this.#appRequest(request, auth.caller));
  }

  /** Whether a backup sends this request to the primary (CCF's `forwarding_required`). */
  #forwards(request: NodeRequest, forwarding: "always" | "sometimes" | "never"): boolean {
    if (this.isPrimary) return false;
    return forwarding === "always" ||
      (forwarding === "sometimes" && request.session?.forwarding === true);
  }

  async #forward(request: NodeRequest): Promise<NodeResponse> {
    if (request.forwarded) {
      // The primary changed while the request travelled: CCF refuses daisy chains.
      return odataResponse(503, "RequestAlreadyForwarded", "RPC was already forwarded.");
    }
    // Later requests of the session follow, so that it reads what it wrote.
    if (request.session) request.session.forwarding = true;
    return await this.#options.cluster!.forward({
      ...request,
      forwarded: true,
      session: undefined,
    });
  }

  /** The synchronous section: begin, handle, commit, append. */
  #execute(runtime: AppRuntime, request: AppRequest): NodeResponse {
    this.#assertServing();
    const attempts = this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const tx = this.#store.begin();
      const response = runtime.handle(request, tx, this.#hooks);
      if (!response.applyWrites || !tx.hasWrites) {
        return toNodeResponse(response, this.#store.lastTxId);
      }
      if (!this.isPrimary) {
        // An endpoint that does not forward wrote on a backup: CCF cannot replicate it.
        return odataResponse(
          503,
          "TransactionReplicationFailed",
          "Transaction failed to replicate.",
        );
      }
      let commit: KvCommit | null;
      try {
        commit = this.#store.commit(tx);
      } catch (e) {
        if (e instanceof KvConflictError) continue;
        throw e;
      }
      if (commit === null) return toNodeResponse(response, this.#store.lastTxId);
      this.#record(commit, response.claimsDigest);
      return toNodeResponse(response, commit.txId);
    }
    return odataResponse(
      503,
      "TransactionCommitAttemptsExceedLimit",
      `Transaction continued to conflict after ${attempts} attempts. Retry later.`,
    );
  }

  #appRequest(request: NodeRequest, caller: HostValue): AppRequest {
    return {
      method: request.method,
      path: request.path,
      query: request.query,
      headers: request.headers,
      body: request.body,
      caller,
    };
  }

  async #serveGovernance(request: NodeRequest): Promise<NodeResponse> {
    const handler = this.#governance;
    if (!handler) return notFound(request.path);
    const answer = await handler(request);
    if (!(answer instanceof Response)) return answer;
    const headers: Record<string, string> = {};
    answer.headers.forEach((value, name) => (headers[name] = value));
    return {
      status: answer.status,
      headers,
      body: new Uint8Array(await answer.arrayBuffer()),
    };
  }

  /** Appends a commit and signs at once when enough transactions are pending. */
  #record(commit: KvCommit, claimsDigest?: Uint8Array): void {
    this.#append(commit, claimsDigest);
    const every = this.#options.signatureTxInterval ?? DEFAULT_SIGNATURE_TX_INTERVAL;
    if (this.#ledger.pendingSinceSignature >= every) this.#sign();
  }

  /**
   * After `store.commit`, the ledger must record the transaction; if it cannot, store and ledger
   * disagree and the node stops serving (a restart replays what is on disk).
   */
  #append(commit: KvCommit, claimsDigest?: Uint8Array): void {
    try {
      this.#ledger.append(commit, claimsDigest);
    } catch (e) {
      this.#failure = errorText(e);
      clearInterval(this.#timer);
      this.#log(`fatal: the ledger could not record ${commit.txId}: ${this.#failure}`);
      throw e;
    }
    if (this.isPrimary) {
      this.#options.cluster?.appended({
        seqno: commit.seqno,
        view: commit.view,
        writes: commit.writes,
        ...(claimsDigest ? { claimsDigest } : {}),
      });
    }
  }

  #signIfPending(): void {
    if (this.#failure !== undefined || this.#closed) return;
    try {
      this.emitSignature();
    } catch (e) {
      this.#log(`error: signature transaction: ${errorText(e)}`);
    }
  }

  #genesis(): void {
    const tx = this.#store.begin();
    const info: GenesisInfo = {
      serviceCertPem: this.#workspace.serviceCertPem,
      node: { nodeId: this.#workspace.nodeId, certPem: this.#workspace.nodeCertPem },
      members: this.#workspace.members,
      users: this.#workspace.users,
      txId: `${this.#store.view}.${this.#store.lastSeqno + 1}`,
    };
    writeGenesis(tx, info);
    this.#options.genesisWrites?.(tx, info);
    this.#append(this.#store.commit(tx)!);
    this.#sign();
    this.#log(
      `genesis: service opened at ${info.txId} with ${info.members.length} active member(s) ` +
        `and ${info.users.length} user(s)`,
    );
  }

  /** Identities added to an existing workspace are files only: genesis registered the others. */
  #warnUnregistered(): void {
    const missing = [
      ...this.#workspace.members.filter((m) => !this.read(membersCerts, m.id)),
      ...this.#workspace.users.filter((u) => !this.read(usersCerts, u.id)),
    ];
    if (missing.length > 0) {
      this.#log(
        `warning: ${missing.map((i) => i.name).join(", ")} exist in the workspace but are not ` +
          "registered in this service (propose set_member / set_user)",
      );
    }
  }

  #serviceCreateTxId(): string {
    const raw = this.#store.get(serviceInfo, singletonKey);
    try {
      const id = raw && JSON.parse(fromUtf8(raw)).current_service_create_txid;
      if (typeof id === "string") return id;
    } catch {
      // An unreadable service info only loses this field of /node/network.
    }
    return `${this.#store.view}.1`;
  }

  /**
   * Never rejects: `#reload` chains every later reload and every request waits on it, so one
   * unreadable deployment must not stop the node from loading the next.
   */
  async #loadApp(): Promise<void> {
    const previous = this.#runtime;
    let next: AppRuntime | null = null;
    try {
      // Governance may have written anything to these tables, parseable or not.
      const tx = this.#store.begin();
      const bundle = readAppBundle(tx);
      if (bundle) {
        next = await createAppRuntime(bundle, {
          ...readRuntimeOptions(tx),
          ...this.#options.runtimeOptions,
          logSink: this.#options.appLog ??
            ((entry) => this.#log(`app ${entry.level}: ${entry.message}`)),
        });
      }
    } catch (e) {
      // The node keeps serving its built-ins and governance, so that a fix can be deployed.
      const kind = e instanceof BundleError ? "is invalid" : "cannot be loaded";
      this.#log(`error: the deployed app ${kind}: ${errorText(e)}`);
    }
    this.#runtime = next;
    previous?.dispose();
  }

  #now(): number {
    return (this.#options.clock ?? Date.now)();
  }

  readonly #lookup: KvLookup = (map, key) => this.#store.get(map, utf8(key));

  /** The network, or this one node when it is a service of its own. */
  #network(): NetworkDescription {
    if (this.#options.cluster) return this.#options.cluster.describe();
    const address = this.#address;
    return {
      currentView: this.#ledger.view,
      primaryId: this.#workspace.nodeId,
      nodes: [{
        node_id: this.#workspace.nodeId,
        status: "Trusted",
        primary: true,
        rpc_interfaces: {
          primary_rpc_interface: { bind_address: address, published_address: address },
        },
        node_data: null,
        last_written: this.#ledger.size,
      }],
    };
  }

  #requestHooks(): RequestHooks {
    return {
      getStateRange: (handle, from, to, expiry) =>
        this.#historical.getStateRange(handle, from, to, expiry),
      dropCachedStates: (handle) => this.#historical.dropCachedStates(handle),
      consensus: {
        getLastCommittedTxId: () => {
          const seqno = this.#ledger.lastSignedSeqno;
          return { view: this.#ledger.viewOf(seqno) ?? this.#ledger.view, seqno };
        },
        getStatusForTxId: (view, seqno) => this.#ledger.txStatus(seqno, view),
        getViewForSeqno: (seqno) => this.#ledger.viewOf(seqno),
      },
    };
  }
}

const notFound = (path: string): NodeResponse =>
  odataResponse(404, "ResourceNotFound", `Unknown path: ${path}.`);

const toNodeResponse = (
  response: { status: number; headers: Readonly<Record<string, string>>; body: Uint8Array },
  txId?: string,
): NodeResponse => ({
  status: response.status,
  headers: txId === undefined ? response.headers : { ...response.headers, [TX_ID_HEADER]: txId },
  body: response.body,
});
