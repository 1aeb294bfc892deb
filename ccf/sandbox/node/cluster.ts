/**
 * What a node of a network of several needs of the network (network/network.ts implements it):
 * whether it is the primary, where to forward, where its transactions go, what the network
 * knows to be committed, and how the network looks for `/node/network/nodes`. A node without one
 * is a one-node service.
 */
import type { LedgerEntry } from "../ledger/ledger.ts";
import type { NodeRequest, NodeResponse } from "./types.ts";

/** One node as CCF's `/node/network/nodes` lists it. */
export interface NodeDescription {
  /** Hex SHA-256 of the node's public key. */
  readonly node_id: string;
  /** `Trusted`: every node of the sandbox joined the service. */
  readonly status: "Trusted";
  /** Whether it is the primary now. */
  readonly primary: boolean;
  /** Its RPC interface: where it listens. */
  readonly rpc_interfaces: {
    readonly primary_rpc_interface: {
      readonly bind_address: string;
      readonly published_address: string;
    };
  };
  /** CCF's free-form node data: none here. */
  readonly node_data: null;
  /** Seqno of the last transaction the node holds. */
  readonly last_written: number;
}

/** The network as `/node/network` and `/node/network/nodes` describe it. */
export interface NetworkDescription {
  /** The view of the current primary. */
  readonly currentView: number;
  /** The current primary's id, `null` while there is none. */
  readonly primaryId: string | null;
  /** Every node of the service, running or stopped. */
  readonly nodes: readonly NodeDescription[];
}

/** See the module documentation. */
export interface ClusterLink {
  /** Whether this node starts as the primary: only the primary writes, signs and runs genesis. */
  readonly primary: boolean;
  /** Seqno the network knows to be committed: the node commits up to there, then as acknowledged. */
  readonly committed: number;
  /** The primary's answer to a request this backup forwards (a 503 when there is none). */
  forward(request: NodeRequest): Promise<NodeResponse>;
  /** Every transaction this node appends as primary, for the backups. */
  appended(entry: LedgerEntry): void;
  /** The network now. */
  describe(): NetworkDescription;
}
