/**
 * A network of sandbox nodes in one process: a test double of what a multi-node CCF service shows
 * its clients, not a consensus implementation (production runs on CCF).
 *
 * - N nodes, each with its own HTTPS port, key and certificate endorsed by the service identity
 *   (recorded in the nodes tables), one primary; a front address spreads connections over the
 *   running nodes (front.ts).
 * - The primary writes. Each transaction reaches every backup `replicationDelayMs` later, in
 *   order; a signature commits what it covers once a majority of the nodes holds it, and the
 *   backups learn of that commit one delay later. Reads on a backup therefore lag the primary.
 * - Backups forward what CCF forwards (node.ts); each node has its own historical cache.
 * - {@link SandboxNetwork.stopPrimary} crashes the primary: what it had not replicated is lost.
 *   The running backup holding the most signed transactions becomes primary in a new view (a new
 *   node process on the same files, as CCF's new primary rolls back to its last signature),
 *   opening it with a signature; backups holding transactions past that point are restarted so
 *   that they drop them; ids of the old view that did not survive read `Invalid`. Nothing a node
 *   reported `Committed` is lost, since a majority held it.
 * - A backup joins (at start, or after {@link SandboxNetwork.restartNode}) from a copy of the
 *   primary's ledger, as a CCF node joins from a snapshot, then follows the replication.
 *
 * Which node was primary last is kept in `sandbox_common/network.json`, so that a restart of the
 * whole network continues from that node's ledger.
 */
import { join } from "node:path";
import type { LedgerEntry } from "../ledger/ledger.ts";
import type { LogEntry } from "../quickjs/mod.ts";
import type { ClusterLink, NetworkDescription, NodeDescription } from "../node/cluster.ts";
import { SandboxNode, type SandboxNodeOptions } from "../node/node.ts";
import { type SandboxServer, serveNode, type ServerOptions } from "../node/server.ts";
import { type NodeRequest, type NodeResponse, odataResponse } from "../node/types.ts";
import { prepareWorkspace, workspacePaths } from "../node/workspace.ts";
import { type Front, startFront } from "./front.ts";
import { isRecorded, recordNode } from "../node/nodesTable.ts";
import { assertLastPrimaryIncluded, lastPrimary, saveLastPrimary } from "./state.ts";

/** How to start a network. */
export interface NetworkOptions
  extends Omit<SandboxNodeOptions, "node" | "view" | "cluster" | "log" | "appLog"> {
  /** Number of nodes (at least 1). */
  readonly nodes: number;
  /**
   * Port of the front; node i listens on `port + 1 + i`. 0 picks free ports for all (default
   * 8000).
   */
  readonly port?: number;
  /** Largest request body a node accepts (CCF's default 1 MB). */
  readonly maxBodyBytes?: ServerOptions["maxBodyBytes"];
  /** Milliseconds a transaction takes to reach the backups (default 50). */
  readonly replicationDelayMs?: number;
  /** Readies each node before it serves, e.g. installs governance. */
  readonly prepare?: (node: SandboxNode) => Promise<void>;
  /** Receives the nodes' log lines with the index of the node, and the network's with `null`. */
  readonly log?: (line: string, node: number | null) => void;
  /** Receives each node's app `console` lines (default: {@link log}). */
  readonly appLog?: (entry: LogEntry, node: number) => void;
}

/** One node of the network as the network sees it. */
export interface NetworkNode {
  /** Its index: its files are in `sandbox_<index>`. */
  readonly index: number;
  /** Its node id. */
  readonly id: string;
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** Whether it runs (a stopped node is still a node of the service). */
  readonly running: boolean;
  /** Whether it is the primary. */
  readonly primary: boolean;
}

const DEFAULT_PORT = 8000;
const DEFAULT_REPLICATION_DELAY_MS = 50;

interface Slot {
  readonly index: number;
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
  server: SandboxServer | null;
  node: SandboxNode | null;
  /** Seqno of the last transaction it holds of the current primary's log. */
  match: number;
  /** Seqno of the last transaction sent to it. */
  sent: number;
  /** Whether it follows the current primary (not while a failover sorts the nodes out). */
  following: boolean;
  /**
   * Seqno after which it may still need the primary's transactions (where a restart or its
   * copy of the ledger leaves it); `null` for a stopped node.
   */
  needsAfter: number | null;
  /** Transactions on their way to it. */
  queue: LedgerEntry[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const unavailable = (message: string): NodeResponse =>
  odataResponse(503, "ServiceUnavailable", message);

/** See the module documentation. */
export class SandboxNetwork {
  readonly #options: NetworkOptions;
  readonly #slots: Slot[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Transactions of the current primary's log not yet held by every running backup. */
  readonly #pending = new Map<number, LedgerEntry>();
  #front: Front | null = null;
  #primary: number | null = null;
  #view = 0;
  #committed = 0;
  #failover: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;

  private constructor(options: NetworkOptions) {
    this.#options = options;
  }

  /**
   * Starts every node (the last primary first, the others as its backups), their servers and the
   * front, and records every node in the nodes tables.
   */
  static async start(options: NetworkOptions): Promise<SandboxNetwork> {
    if (!Number.isSafeInteger(options.nodes) || options.nodes < 1) {
      throw new RangeError(`A network has at least one node, not ${options.nodes}`);
    }
    const network = new SandboxNetwork(options);
    try {
      await network.#open();
    } catch (e) {
      await network.stop();
      throw e;
    }
    return network;
  }

  /** The front's URL: the one address clients use. */
  get url(): string {
    return this.#front!.url;
  }

  /** The current view. */
  get view(): number {
    return this.#view;
  }

  /** The primary, or `null` during a failover or without a majority. */
  get primary(): SandboxNode | null {
    return this.#primary === null ? null : this.#slots[this.#primary].node;
  }

  /** Every node, running or stopped. */
  get nodes(): readonly NetworkNode[] {
    return this.#slots.map((slot) => ({
      index: slot.index,
      id: slot.id,
      url: slot.server?.url ?? "",
      running: slot.node !== null,
      primary: slot.index === this.#primary,
    }));
  }

  /** The running node of index `index`, or `null`. */
  node(index: number): SandboxNode | null {
    return this.#slots[index]?.node ?? null;
  }

  /**
   * Crashes the primary as kill -9 would, and elects the running backup that holds the most
   * signed transactions, which opens a new view. Resolves once the new primary serves; answers
   * its index, or `null` when too few nodes run to elect one.
   */
  stopPrimary(): Promise<number | null> {
    const done = this.#failover.then(() => this.#stopPrimary());
    this.#failover = done.then(() => {}, () => {});
    return done;
  }

  /** Starts a stopped node again, as a backup joining from a copy of the primary's ledger. */
  restartNode(index: number): Promise<void> {
    const done = this.#failover.then(async () => {
      const slot = this.#slots[index];
      if (!slot || slot.node) throw new Error(`Node ${index} is not a stopped node`);
      if (this.#primary === null) throw new Error("There is no primary to join");
      await this.#serve(slot);
      await this.#joinBackup(slot);
    });
    this.#failover = done.then(() => {}, () => {});
    return done;
  }

  /**
   * Stops everything: the front, the servers, the primary (which signs what is pending), then
   * the backups once they hold it.
   */
  stop(): Promise<void> {
    return this.#stopped ??= (async () => {
      await this.#failover;
      await this.#front?.close();
      for (const slot of this.#slots) await slot.server?.close();
      const primary = this.#primary === null ? null : this.#slots[this.#primary];
      await primary?.node?.close();
      for (const slot of this.#slots) {
        if (slot !== primary) this.#flush(slot);
      }
      for (const timer of this.#timers) clearTimeout(timer);
      for (const slot of this.#slots) {
        clearTimeout(slot.timer);
        if (slot !== primary) await slot.node?.close();
        slot.node = null;
      }
      if (primary) saveLastPrimary(this.#options.workspace, primary.index);
    })();
  }

  async #open(): Promise<void> {
    const options = this.#options;
    assertLastPrimaryIncluded(options.workspace, options.nodes);
    for (let index = 0; index < options.nodes; index++) {
      const ws = await prepareWorkspace({
        dir: options.workspace,
        members: options.members ?? 3,
        users: options.users ?? 1,
        node: index,
      });
      this.#slots.push({
        index,
        id: ws.nodeId,
        certPem: ws.nodeCertPem,
        keyPem: ws.nodeKeyPem,
        server: null,
        node: null,
        match: 0,
        sent: 0,
        following: false,
        needsAfter: null,
        queue: [],
        timer: undefined,
      });
    }
    for (const slot of this.#slots) await this.#serve(slot);
    const first = this.#slots[lastPrimary(options.workspace)];
    // The ledger on disk was committed when the network stopped: it all counts.
    await this.#startPrimary(first, Number.MAX_SAFE_INTEGER, undefined);
    this.#committed = first.node!.ledger.lastSignedSeqno;
    this.#recordNodes(first.node!);
    for (const slot of this.#slots) if (slot !== first) await this.#joinBackup(slot);
    saveLastPrimary(this.#options.workspace, first.index);
    const base = options.port ?? DEFAULT_PORT;
    this.#front = startFront(
      base,
      () => this.#slots.filter((s) => s.node && s.server).map((s) => s.server!.port),
    );
    this.#note(`${options.nodes} nodes, node ${first.index} primary in view ${this.#view}`);
  }

  async #serve(slot: Slot): Promise<void> {
    const base = this.#options.port ?? DEFAULT_PORT;
    slot.server = await serveNode({
      workspace: { nodeCertPem: slot.certPem, nodeKeyPem: slot.keyPem },
      handle: (request) =>
        slot.node
          ? slot.node.handle(request)
          : Promise.resolve(unavailable("The node is not running.")),
    }, {
      port: base === 0 ? 0 : base + 1 + slot.index,
      maxBodyBytes: this.#options.maxBodyBytes,
    });
  }

  /**
   * Starts `slot` as the primary in a new view (at least `view`, a failover's), which it opens
   * with a signature as CCF's new primary does.
   */
  async #startPrimary(slot: Slot, committed: number, view: number | undefined): Promise<void> {
    const node = await this.#startNode(slot, true, committed, view);
    this.#view = node.ledger.view;
    this.#primary = slot.index;
    slot.match = node.ledger.size;
    node.openView();
  }

  async #startNode(
    slot: Slot,
    primary: boolean,
    committed: number,
    view?: number,
  ): Promise<SandboxNode> {
    const options = this.#options;
    const log = options.log ?? ((line: string) => console.log(line));
    const link: ClusterLink = {
      primary,
      committed,
      forward: (request) => this.#forward(request),
      appended: (entry) => this.#replicate(slot, entry),
      describe: () => this.#describe(),
    };
    const node = await SandboxNode.start({
      ...options,
      node: slot.index,
      view,
      cluster: link,
      log: (line) => log(line, slot.index),
      appLog: options.appLog
        ? (entry) => options.appLog!(entry, slot.index)
        : (entry) => log(`app ${entry.level}: ${entry.message}`, slot.index),
    });
    try {
      await options.prepare?.(node);
    } catch (e) {
      await node.kill();
      throw e;
    }
    node.setAddress(new URL(slot.server!.url).host);
    slot.node = node;
    return node;
  }

  /** Records in the nodes tables every node not recorded with its current certificate. */
  #recordNodes(primary: SandboxNode): void {
    const tx = primary.readTransaction();
    const missing = this.#slots.filter((slot) => !isRecorded(tx, { nodeId: slot.id, ...slot }));
    if (missing.length === 0) return;
    const commit = primary.commitGovernance((write) => {
      for (const slot of missing) recordNode(write, { nodeId: slot.id, certPem: slot.certPem });
    });
    this.#note(`recorded node(s) ${missing.map((s) => s.index).join(", ")} at ${commit?.txId}`);
  }

  /**
   * Starts `slot` as a backup on a copy of the primary's ledger. The primary signs first, so the
   * copy ends with a signature and the backup keeps all of it; what the primary appends after
   * the copy reaches the backup by replication.
   */
  async #joinBackup(slot: Slot): Promise<void> {
    const primary = this.#slots[this.#primary!].node!;
    primary.emitSignature();
    const from = workspacePaths(this.#options.workspace, this.#primary!).ledgerDir;
    const to = workspacePaths(this.#options.workspace, slot.index).ledgerDir;
    copyDirectory(from, to);
    slot.needsAfter = primary.ledger.size;
    slot.queue = [];
    await this.#startNode(slot, false, this.#committed);
    this.#follow(slot);
  }

  /** From now on `slot` receives the primary's log after what it holds. */
  #follow(slot: Slot): void {
    slot.match = slot.sent = slot.node!.ledger.size;
    slot.following = true;
    this.#nodeLog(
      slot.index,
      `backup of node ${this.#primary} in view ${this.#view}, at ${slot.match}`,
    );
    this.#feed(slot);
    this.#recomputeCommit();
  }

  /** Queues what the primary appended since the last transaction sent to `slot`. */
  #feed(slot: Slot): void {
    const last = this.#slots[this.#primary!].match;
    for (let seqno = slot.sent + 1; seqno <= last; seqno++) {
      const entry = this.#pending.get(seqno);
      if (!entry) {
        throw new Error(`The network lost transaction ${seqno} before node ${slot.index} held it`);
      }
      slot.queue.push(entry);
    }
    slot.sent = Math.max(slot.sent, last);
    this.#schedule(slot);
  }

  #replicate(from: Slot, entry: LedgerEntry): void {
    if (from.index !== this.#primary) return;
    from.match = entry.seqno;
    this.#pending.set(entry.seqno, entry);
    for (const slot of this.#slots) {
      if (slot !== from && slot.node && slot.following) this.#feed(slot);
    }
    this.#recomputeCommit();
  }

  #schedule(slot: Slot): void {
    if (slot.timer !== undefined || slot.queue.length === 0) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.#flush(slot);
    }, this.#delay());
  }

  /** Delivers what is on its way to `slot`. */
  #flush(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const entries = slot.queue.splice(0);
    if (!slot.node || !slot.following || entries.length === 0) return;
    try {
      slot.node.replicate(entries);
    } catch (e) {
      this.#note(`node ${slot.index} could not apply replicated transactions: ${errorText(e)}`);
      return;
    }
    slot.match = entries[entries.length - 1].seqno;
    this.#recomputeCommit();
    this.#prune();
  }

  /** Commits up to the highest seqno a majority of all nodes holds. */
  #recomputeCommit(): void {
    const held = this.#slots.map((slot) => slot.match).sort((a, b) => b - a);
    const majority = Math.floor(this.#slots.length / 2) + 1;
    const candidate = held[majority - 1];
    if (candidate <= this.#committed) return;
    this.#committed = candidate;
    const primary = this.#primary === null ? null : this.#slots[this.#primary];
    primary?.node?.acknowledge(candidate);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      for (const slot of this.#slots) if (slot !== primary) slot.node?.acknowledge(candidate);
    }, this.#delay());
    this.#timers.add(timer);
  }

  /** Forgets transactions every running backup holds signed (a restart keeps those). */
  #prune(): void {
    let keep = this.#committed;
    for (const slot of this.#slots) {
      if (slot.index === this.#primary) continue;
      if (slot.node) slot.needsAfter = slot.node.ledger.lastSignatureSeqno;
      if (slot.needsAfter !== null) keep = Math.min(keep, slot.needsAfter);
    }
    for (const seqno of this.#pending.keys()) {
      if (seqno > keep) break;
      this.#pending.delete(seqno);
    }
  }

  async #forward(request: NodeRequest): Promise<NodeResponse> {
    const primary = this.primary;
    if (!primary) {
      return odataResponse(503, "InternalError", "RPC could not be forwarded to unknown primary.");
    }
    return await primary.handle(request);
  }

  async #stopPrimary(): Promise<number | null> {
    if (this.#primary === null) return null;
    const old = this.#slots[this.#primary];
    this.#primary = null;
    await old.server?.close();
    old.server = null;
    await old.node?.kill();
    old.node = null;
    old.needsAfter = null;
    this.#note(`node ${old.index} (primary in view ${this.#view}) stopped`);
    // What was on its way from the old primary is lost with it.
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
      slot.queue = [];
      slot.following = false;
    }
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    old.match = 0;
    const running = this.#slots.filter((slot) => slot.node);
    if (running.length < Math.floor(this.#slots.length / 2) + 1) {
      this.#note(`no primary: only ${running.length} of ${this.#slots.length} nodes run`);
      return null;
    }
    const next = running.reduce((best, slot) =>
      slot.node!.ledger.lastSignatureSeqno > best.node!.ledger.lastSignatureSeqno ? slot : best
    );
    // Its unsigned transactions are dropped when it starts again, as CCF's new primary rolls back.
    const kept = next.node!.ledger.lastSignatureSeqno;
    for (const seqno of [...this.#pending.keys()]) if (seqno > kept) this.#pending.delete(seqno);
    await next.node!.kill();
    await this.#startPrimary(next, this.#committed, this.#view + 1);
    for (const slot of running) {
      if (slot === next) continue;
      if (slot.node!.ledger.size > kept) {
        // It holds transactions the new primary does not: starting again drops them.
        await slot.node!.kill();
        await this.#startNode(slot, false, this.#committed);
      }
      this.#follow(slot);
    }
    saveLastPrimary(this.#options.workspace, next.index);
    this.#note(`node ${next.index} is primary in view ${this.#view} from seqno ${kept}`);
    return next.index;
  }

  #describe(): NetworkDescription {
    const nodes: NodeDescription[] = this.#slots.map((slot) => {
      const address = slot.server ? new URL(slot.server.url).host : "";
      return {
        node_id: slot.id,
        status: "Trusted",
        primary: slot.index === this.#primary,
        rpc_interfaces: {
          primary_rpc_interface: { bind_address: address, published_address: address },
        },
        node_data: null,
        last_written: slot.node?.ledger.size ?? 0,
      };
    });
    return {
      currentView: this.#view,
      primaryId: this.#primary === null ? null : this.#slots[this.#primary].id,
      nodes,
    };
  }

  #delay(): number {
    return this.#options.replicationDelayMs ?? DEFAULT_REPLICATION_DELAY_MS;
  }

  #note(line: string): void {
    (this.#options.log ?? ((l: string) => console.log(l)))(`network: ${line}`, null);
  }

  #nodeLog(index: number, line: string): void {
    (this.#options.log ?? ((l: string) => console.log(l)))(line, index);
  }
}

/** Replaces `to` by a copy of the files of `from`. */
function copyDirectory(from: string, to: string): void {
  try {
    Deno.removeSync(to, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  Deno.mkdirSync(to, { recursive: true, mode: 0o700 });
  for (const entry of Deno.readDirSync(from)) {
    if (!entry.isFile) continue;
    Deno.copyFileSync(join(from, entry.name), join(to, entry.name));
  }
}
