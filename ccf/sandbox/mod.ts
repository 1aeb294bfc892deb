/**
 * The sandbox: a local stand-in of a CCF network for any CCF JavaScript application, for
 * development, demos and tests where CCF itself cannot be installed. It serves a `set_js_app`
 * bundle over HTTPS from QuickJS, with CCF's KV, ledger and receipts, authentication and
 * governance, in a workspace laid out like CCF's own sandbox. It is a test double of CCF's
 * observable behaviour, not a production engine: production runs on CCF.
 *
 * ```ts
 * const sandbox = await startSandbox({ workspace: "workspace", port: 8000,
 *   genesisWrites: governanceGenesisWrites });
 * await installGovernance(sandbox.node);
 * ```
 *
 * Governance follows CCF's default constitution: a proposal passes once a majority of the members
 * vote for it. `installGovernance(node, { acceptAllProposals: true })` behaves instead like CCF's
 * own `sandbox.sh`, which accepts every valid proposal when it is proposed.
 *
 * Several nodes behind one address, with forwarding, replication lag, per-node historical caches
 * and failover, as a multi-node CCF service shows them to its clients:
 *
 * ```ts
 * const network = await SandboxNetwork.start({ workspace: "workspace", nodes: 3, port: 8000,
 *   genesisWrites: governanceGenesisWrites, prepare: (node) => installGovernance(node) });
 * await network.stopPrimary();   // a backup takes over in a new view
 * ```
 *
 * The stand-ins of the platform around an app, for demos and tests, are here too: an attestation
 * issuer in the manner of Microsoft Azure Attestation, and a TPM key of a confidential VM.
 *
 * @module
 */
export {
  certificateDer,
  type GenesisInfo,
  type GovernanceHandler,
  type Identity,
  isDeployed,
  type NodeRequest,
  type NodeResponse,
  type NodeSession,
  type RecordedNode,
  type RunningSandbox,
  SandboxNode,
  type SandboxNodeOptions,
  type SandboxServer,
  type ServerOptions,
  startSandbox,
  type Workspace,
  writeAppBundle,
} from "./node/mod.ts";
export type { WorkspacePaths } from "./node/workspace.ts";
export type { ClusterLink, NetworkDescription, NodeDescription } from "./node/cluster.ts";
export { type NetworkNode, type NetworkOptions, SandboxNetwork } from "./network/network.ts";
export { DEFAULT_JWT_KEY_REFRESH_INTERVAL_S } from "./node/jwtRefresh.ts";
export {
  DEFAULT_LOG_RETENTION,
  type LogFile,
  type LogFileOptions,
  openLogFile,
} from "./node/logFile.ts";
export {
  governanceGenesisWrites,
  type GovernanceNode,
  type InstalledGovernance,
  installGovernance,
  type InstallOptions,
} from "./governance/mod.ts";
export {
  type AppBundle,
  type AppRequest,
  type AppResponse,
  type AppRuntime,
  type AppRuntimeOptions,
  type BundleModule,
  type ConsensusHooks,
  createAppRuntime,
  type EndpointInfo,
  type EndpointMode,
  type EndpointProperties,
  type HistoricalKv,
  type HistoricalState,
  type HostValue,
  type LogEntry,
  type RequestHooks,
  type RouteMatch,
  type TxStatus,
  validateBundle,
} from "./quickjs/mod.ts";
export { type KvCommit, KvStore, KvTransaction, type KvWrite } from "./kv.ts";
export {
  type FileLedgerOptions,
  Ledger,
  type LedgerEntry,
  LedgerIntegrityError,
  type LedgerOptions,
  type LedgerReceipt,
  type LedgerRecovery,
  type MemoryLedgerOptions,
  type OpenedLedger,
  type SignatureTxReceipt,
  type TxReceipt,
} from "./ledger/ledger.ts";
export {
  encodeSignatureRecord,
  type NodeSigner,
  signatureKey,
  type SignatureRecord,
  SIGNATURES_MAP,
} from "./ledger/signature.ts";
export type { ProofElement } from "./ledger/merkle.ts";
export type { RsaPublicJwk } from "../../core/attestation/wrappingKey.ts";
export { jwtIssuers, jwtSigningKeys } from "./govTables.ts";
export {
  type AttestationIssuer,
  type AttestationIssuerOptions,
  DEFAULT_HOSTNAME,
  DEFAULT_ISSUER,
  DEFAULT_PORT,
  defaultClaims,
  startAttestationIssuer,
} from "./standins/attestationIssuer.ts";
export {
  decodePem,
  encodePem,
  loadTpmKey,
  type TpmKey,
  tpmKeyFiles,
  type TpmPublicJwk,
} from "./standins/tpmKey.ts";
