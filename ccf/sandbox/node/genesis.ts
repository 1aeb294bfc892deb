/**
 * The genesis transaction of a new sandbox service: what CCF's `start_network.py` leaves in the
 * governance tables once the network is open — active members, users, the service info, the
 * first node in the nodes tables (replay accepts only signatures by recorded nodes) and a
 * constitution.
 *
 * The constitution written here is a placeholder that refuses every proposal; governance replaces
 * it (through the node's `genesisWrites` option for new workspaces, or by recognising
 * {@link PLACEHOLDER_CONSTITUTION} in an older one).
 */
import type { KvTransaction } from "../kv.ts";
import {
  constitution,
  type MemberInfo,
  membersCerts,
  membersInfo,
  serviceInfo,
  singletonKey,
  usersCerts,
  usersInfo,
} from "../govTables.ts";
import { utf8 } from "./types.ts";
import type { Identity } from "./workspace.ts";
import { type RecordedNode, recordNode } from "./nodesTable.ts";

/** What the genesis transaction registers. */
export interface GenesisInfo {
  /** PEM of the service certificate. */
  readonly serviceCertPem: string;
  /** The members the genesis transaction records. */
  readonly members: readonly Identity[];
  /** The users the genesis transaction records. */
  readonly users: readonly Identity[];
  /** The node that runs it: the first node of the service, whose signatures follow. */
  readonly node: RecordedNode;
  /** `<view>.<seqno>` of the genesis transaction itself. */
  readonly txId: string;
}

/** The constitution of a service whose governance module has not installed a real one. */
export const PLACEHOLDER_CONSTITUTION =
  `// ccf-sandbox placeholder constitution: no governance is installed.
export function validate(input) {
  return { valid: false, description: "the sandbox has no constitution installed yet" };
}
export function resolve(proposal, proposerId, votes) {
  return "Rejected";
}
export function apply(proposal, proposalId) {
  throw new Error("the sandbox has no constitution installed yet");
}
`;

const json = (value: unknown): Uint8Array => utf8(JSON.stringify(value));

/** Writes the default genesis state into `tx`. */
export function writeGenesis(tx: KvTransaction, info: GenesisInfo): void {
  for (const member of info.members) {
    const details: MemberInfo = { status: "Active", recovery_role: "NonParticipant" };
    tx.set(membersCerts, utf8(member.id), utf8(member.certPem));
    tx.set(membersInfo, utf8(member.id), json(details));
  }
  for (const user of info.users) {
    tx.set(usersCerts, utf8(user.id), utf8(user.certPem));
    tx.set(usersInfo, utf8(user.id), json({}));
  }
  tx.set(
    serviceInfo,
    singletonKey,
    json({
      cert: info.serviceCertPem,
      status: "Open",
      recovery_count: 0,
      current_service_create_txid: info.txId,
    }),
  );
  tx.set(constitution, singletonKey, json(PLACEHOLDER_CONSTITUTION));
  recordNode(tx, info.node);
}
