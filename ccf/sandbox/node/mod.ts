/**
 * The sandbox node: a one-node CCF stand-in serving the KMS app bundle over HTTPS.
 *
 * ```ts
 * const { node, server, stop } = await startSandbox({ workspace: "workspace", port: 8000 });
 * node.setGovernanceHandler((request) => governance.handle(request));
 * node.commitGovernance((tx) => writeAppBundle(tx, bundle));
 * await node.appReady();
 * ```
 */
export { type GovernanceHandler, SandboxNode, type SandboxNodeOptions } from "./node.ts";
export {
  DEFAULT_MAX_BODY_BYTES,
  type RunningSandbox,
  type SandboxServer,
  serveNode,
  type ServerOptions,
  startSandbox,
} from "./server.ts";
export {
  APP_TABLES,
  isDeployed,
  readAppBundle,
  readRuntimeOptions,
  writeAppBundle,
} from "./appTables.ts";
export { type GenesisInfo, PLACEHOLDER_CONSTITUTION, writeGenesis } from "./genesis.ts";
export type { RecordedNode } from "./nodesTable.ts";
export { type Identity, prepareWorkspace, type Workspace, workspacePaths } from "./workspace.ts";
export { certificateDer, certificateId, certificatePem } from "./certificates.ts";
export { committedTxId, restReceipt } from "./builtins.ts";
export type { KvLookup, NodeRequest, NodeResponse, NodeSession } from "./types.ts";
