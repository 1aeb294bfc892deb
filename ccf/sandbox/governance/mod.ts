/**
 * Governance for the sandbox node: COSE-signed proposals and ballots decided by a JavaScript
 * constitution in QuickJS, every step a ledger transaction, served under `/gov`.
 *
 * ```ts
 * const node = await SandboxNode.start({ workspace, genesisWrites: governanceGenesisWrites });
 * const governance = await installGovernance(node, { log: (line) => console.log(line) });
 * ```
 *
 * `governanceGenesisWrites` puts the default constitution into a new service's genesis
 * transaction; {@link installGovernance} also replaces the node's placeholder constitution (an
 * older workspace, or a node started without the genesis hook) in a transaction of its own.
 */
import type { KvCommit, KvTransaction } from "../kv.ts";
import type { TxStatus } from "../ledger/ledger.ts";
import { PLACEHOLDER_CONSTITUTION } from "../node/genesis.ts";
import type { NodeRequest, NodeResponse } from "../node/types.ts";
import { sharedEngine } from "../quickjs/engine.ts";
import { DEFAULT_CONSTITUTION } from "./constitution/mod.ts";
import { type GovernanceStore, ProposalService } from "./proposals.ts";
import { createGovernanceRoutes } from "./routes.ts";
import { ConstitutionRunner } from "./runner.ts";
import { readConstitution, writeConstitution } from "./tables.ts";

export { DEFAULT_CONSTITUTION } from "./constitution/mod.ts";
export { ProposalService } from "./proposals.ts";

/** What governance needs of the node (a `SandboxNode` has all of it). */
export interface GovernanceNode {
  /** Commits `fn`'s writes as one governance transaction. */
  commitGovernance(fn: (tx: KvTransaction) => void): KvCommit | null;
  /** A transaction over the committed state, to read it. */
  readTransaction(): KvTransaction;
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
}

/** Installed governance: a way to uninstall it. */
export interface InstalledGovernance {
  /** Removes the `/gov` handler from the node. */
  uninstall(): void;
}

/** The node's `genesisWrites` hook: the default constitution in the genesis transaction. */
export function governanceGenesisWrites(tx: KvTransaction): void {
  writeConstitution(tx, DEFAULT_CONSTITUTION);
}

/** A {@link GovernanceStore} over the node: its committed state, its ledger, its commits. */
function nodeBackend(node: GovernanceNode): GovernanceStore {
  return {
    readTransaction: () => node.readTransaction(),
    commit: (fn) => node.commitGovernance(fn),
    stateRoot: () => node.ledger.merkleRoot(),
  };
}

/**
 * Serves `/gov` on `node`; installs the default constitution if the node holds none or the
 * placeholder of its genesis.
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
  const current = readConstitution(node.readTransaction());
  if (current === undefined || current === PLACEHOLDER_CONSTITUTION) {
    const commit = node.commitGovernance((tx) => writeConstitution(tx, DEFAULT_CONSTITUTION));
    log(`governance: installed the default constitution at ${commit?.txId}`);
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
