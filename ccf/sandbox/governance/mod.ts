/**
 * Governance for the sandbox node: COSE-signed proposals and ballots decided by a JavaScript
 * constitution in QuickJS, every step a ledger transaction, served under `/gov`.
 *
 * ```ts
 * const node = await SandboxNode.start({ workspace, genesisWrites: governanceGenesisWrites });
 * const governance = await installGovernance(node, { log: (line) => console.log(line) });
 * ```
 *
 * `governanceGenesisWrites` puts the default constitution and service configuration into a new
 * service's genesis transaction; {@link installGovernance} also replaces the node's placeholder
 * constitution (an older workspace, or a node started without the genesis hook) in a transaction
 * of its own.
 *
 * With `acceptAllProposals`, governance behaves like CCF's own local sandbox (`sandbox.sh`): its
 * constitution accepts and applies every valid proposal as soon as it is proposed, so that tools
 * written for that sandbox, which propose and never vote, work unchanged.
 */
import type { KvCommit, KvTransaction } from "../kv.ts";
import type { TxStatus } from "../ledger/ledger.ts";
import { PLACEHOLDER_CONSTITUTION } from "../node/genesis.ts";
import type { NodeRequest, NodeResponse } from "../node/types.ts";
import { sharedEngine } from "../quickjs/engine.ts";
import { ACCEPT_ALL_CONSTITUTION, DEFAULT_CONSTITUTION } from "./constitution/mod.ts";
import { type GovernanceStore, ProposalService } from "./proposals.ts";
import { createGovernanceRoutes } from "./routes.ts";
import { ConstitutionRunner } from "./runner.ts";
import { singletonKey } from "../govTables.ts";
import {
  ensureServiceConfig,
  readConstitution,
  serviceConfig,
  writeConstitution,
} from "./tables.ts";

export { ACCEPT_ALL_CONSTITUTION, DEFAULT_CONSTITUTION } from "./constitution/mod.ts";
export { ProposalService } from "./proposals.ts";

/** What governance needs of the node (a `SandboxNode` has all of it). */
export interface GovernanceNode {
  /** Commits `fn`'s writes as one governance transaction. */
  commitGovernance(fn: (tx: KvTransaction) => void): KvCommit | null;
  /** A transaction over the committed state, to read it. */
  readTransaction(): KvTransaction;
  /**
   * Whether this node commits; a backup of a network (`false`) receives governance's writes from
   * the primary. Absent means it commits.
   */
  readonly isPrimary?: boolean;
  /** Serves `/gov` with `handler`, or stops serving it. */
  setGovernanceHandler(handler: ((request: NodeRequest) => Promise<NodeResponse>) | null): void;
  /** What governance reads of the ledger: the view, the signed tip, the root and statuses. */
  readonly ledger: {
    /** The current view. */
    readonly view: number;
    /** The seqno of the last signature transaction. */
    readonly lastSignedSeqno: number;
    /** The Merkle root of every transaction so far. */
    merkleRoot(): Uint8Array;
    /** The status of transaction `view.seqno`. */
    txStatus(seqno: number, view?: number): TxStatus;
  };
}

/** Options of {@link installGovernance}. */
export interface InstallOptions {
  /** Receives governance events and constitution `console` output. */
  readonly log?: (line: string) => void;
  /**
   * The clock governance messages' created_at is checked against, milliseconds since the epoch
   * (default `Date.now`).
   */
  readonly clock?: () => number;
  /**
   * Accept every valid proposal when it is proposed, without ballots, as CCF's `sandbox.sh` does
   * (default `false`: a majority of the Active members must vote for it, as on a CCF service
   * with the default constitution). It applies while the service runs one of the sandbox's
   * built-in constitutions, which it switches to the accept-all one or back; a constitution set
   * by proposal (e.g. the default one with custom actions appended) keeps its own `resolve`.
   */
  readonly acceptAllProposals?: boolean;
}

/** Installed governance: a way to uninstall it. */
export interface InstalledGovernance {
  /** Removes the `/gov` handler from the node. */
  uninstall(): void;
}

/**
 * The node's `genesisWrites` hook: the default constitution and CCF's default service
 * configuration in the genesis transaction.
 */
export function governanceGenesisWrites(tx: KvTransaction): void {
  writeConstitution(tx, DEFAULT_CONSTITUTION);
  ensureServiceConfig(tx);
}

/** The constitutions {@link installGovernance} may replace: none, or one of its own. */
const BUILT_IN = new Set([PLACEHOLDER_CONSTITUTION, DEFAULT_CONSTITUTION, ACCEPT_ALL_CONSTITUTION]);

/** A {@link GovernanceStore} over the node: its committed state, its ledger, its commits. */
function nodeBackend(node: GovernanceNode): GovernanceStore {
  return {
    readTransaction: () => node.readTransaction(),
    commit: (fn) => node.commitGovernance(fn),
    stateRoot: () => node.ledger.merkleRoot(),
  };
}

/**
 * Serves `/gov` on `node`. Installs the default constitution (or, with `acceptAllProposals`, the
 * accept-all one) if the node holds none or another of the sandbox's built-in ones, and CCF's
 * default service configuration if it has none.
 */
export async function installGovernance(
  node: GovernanceNode,
  options: InstallOptions = {},
): Promise<InstalledGovernance> {
  const log = options.log ?? (() => {});
  const engine = await sharedEngine();
  const store = nodeBackend(node);
  const service = new ProposalService(store, new ConstitutionRunner(engine, { log }), {
    log,
    clock: options.clock,
  });
  const wanted = options.acceptAllProposals ? ACCEPT_ALL_CONSTITUTION : DEFAULT_CONSTITUTION;
  const read = node.readTransaction();
  const current = readConstitution(read);
  const replace = current !== wanted && (current === undefined || BUILT_IN.has(current));
  const missingConfig = read.get(serviceConfig, singletonKey) === undefined;
  if (node.isPrimary !== false && (replace || missingConfig)) {
    const commit = node.commitGovernance((tx) => {
      if (replace) writeConstitution(tx, wanted);
      ensureServiceConfig(tx);
    });
    if (replace) {
      const which = options.acceptAllProposals ? "accept-all" : "default";
      log(`governance: installed the ${which} constitution at ${commit?.txId}`);
    }
  }
  const routes = createGovernanceRoutes(service, {
    transactions: {
      commitTxId: () => `${node.ledger.view}.${node.ledger.lastSignedSeqno}`,
      status: (view, seqno) => node.ledger.txStatus(seqno, view),
    },
  });
  node.setGovernanceHandler(routes);
  return { uninstall: () => node.setGovernanceHandler(null) };
}
