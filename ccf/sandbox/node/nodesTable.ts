/**
 * CCF's nodes tables, as a service records the nodes that joined it: `public:ccf.gov.nodes.info`
 * (the node's status and public key) and `public:ccf.gov.nodes.endorsed_certificates` (its
 * certificate endorsed by the service identity), both keyed by node id. Every node of a sandbox
 * network is recorded `Trusted` before it serves, so that a receipt signed by any of them names
 * a node the ledger knows.
 */
import { createPublicKey } from "node:crypto";
import type { KvTransaction } from "../kv.ts";
import { nodesEndorsedCertificates, nodesInfo } from "../govTables.ts";

/** A node as the network records it. */
export interface RecordedNode {
  /** Hex SHA-256 of its public key. */
  readonly nodeId: string;
  /** Its certificate, endorsed by the service certificate. */
  readonly certPem: string;
}

/** The part of CCF's `NodeInfo` the sandbox records. */
export interface NodeInfo {
  readonly status: "Trusted";
  readonly public_key: string;
  readonly quote_info: { readonly format: "Insecure_Virtual" };
  readonly node_data: null;
}

const encoder = new TextEncoder();

/** Whether `node` is recorded with its current certificate. */
export const isRecorded = (tx: KvTransaction, node: RecordedNode): boolean => {
  const stored = tx.get(nodesEndorsedCertificates, encoder.encode(node.nodeId));
  return stored !== undefined && new TextDecoder().decode(stored) === node.certPem;
};

/** Records `node` as a trusted node of the service, with its endorsed certificate. */
export function recordNode(tx: KvTransaction, node: RecordedNode): void {
  const info: NodeInfo = {
    status: "Trusted",
    public_key: createPublicKey(node.certPem).export({ type: "spki", format: "pem" }) as string,
    quote_info: { format: "Insecure_Virtual" },
    node_data: null,
  };
  const key = encoder.encode(node.nodeId);
  tx.set(nodesInfo, key, encoder.encode(JSON.stringify(info)));
  tx.set(nodesEndorsedCertificates, key, encoder.encode(node.certPem));
}
