/**
 * `deno task sandbox`: runs the CCF stand-in on https://127.0.0.1:8000 with a workspace laid out
 * like CCF's `sandbox.sh` one, and prints the environment the KMS scripts expect: one node, or
 * with `--nodes N` a network of N nodes behind a front address (SIGUSR2 stops the primary, and a
 * backup takes over). Ctrl-C or SIGTERM stops it cleanly: pending transactions are signed and the
 * ledgers are closed.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import {
  type AppBundle,
  DEFAULT_JWT_KEY_REFRESH_INTERVAL_S,
  DEFAULT_LOG_RETENTION,
  governanceGenesisWrites,
  installGovernance,
  type InstallOptions,
  isDeployed,
  LedgerIntegrityError,
  type LogEntry,
  type LogFile,
  openLogFile,
  SandboxNetwork,
  type SandboxNode,
  startSandbox,
  validateBundle,
  writeAppBundle,
} from "@kms/sandbox";
import { waitForInterrupt } from "./common.ts";

const { maxBytes, keep } = DEFAULT_LOG_RETENTION;
const mib = (bytes: number) => bytes / 2 ** 20;

const usage = `deno task sandbox [options]

Runs a CCF stand-in (the sandbox) serving the deployed JavaScript app over HTTPS: one node, or a
network of several behind one address.

Options:
  --workspace DIR              workspace directory, created or reused (default: ./workspace)
  --port N                     HTTPS port on 127.0.0.1; 0 picks free ones (default: 8000); with
                               --nodes, the front's, node i listening on N+1+i
  --nodes N                    nodes of the network (default: 1): each has its own port and node
                               certificate, one is the primary, backups forward writes and lag
                               behind it; the front spreads connections over the running nodes,
                               and SIGUSR2 (kill -USR2 <pid>) stops the primary, as a crash would:
                               a backup takes over in a new view
  --replication-delay-ms N     with --nodes: milliseconds a transaction takes to reach the backups
                               (default: 50)
  --members N                  members to create and register as Active on first start (default: 3)
  --users N                    users to create and register on first start (default: 1)
  --js-app-bundle PATH         deploy this set_js_app bundle (bundle.json, or a directory holding
                               one, e.g. dist) at start, unless it is already the deployed app
  --signature-interval-ms N    milliseconds between signature transactions (default: 1000)
  --recover-to-last-good-signature
                               start on a ledger that fails its integrity checks at or before
                               its last signature (altered, damaged or cut short) by cutting it
                               back to the last good signature: the committed transactions after
                               it are lost, the removed bytes are kept in
                               0.ledger/ledger.discarded.<n> and the count is logged. Without it
                               the node refuses such a ledger, names the seqno and changes no file
  --jwt-key-refresh-interval-s N
                               seconds between refreshes of the signing keys of JWT issuers set
                               with auto_refresh (CCF's jwt.key_refresh_interval_s; default:
                               1800); keys are also refreshed at start and when an issuer is set
  --accept-all-proposals       accept and apply every valid proposal when it is proposed, without
                               ballots, as CCF's own sandbox.sh does (for tools written for it,
                               which propose and never vote); by default a majority of the
                               members must vote for a proposal. A constitution set by proposal
                               keeps the resolve it was built from
  -v, --verbose                also print the app's console output (always in sandbox_0/out)
  -h, --help                   show this help

Files: <workspace>/sandbox_common/ holds service_cert.pem and member{i}_/user{i}_ cert and key
files; <workspace>/sandbox_<i>/ holds node i's keys, its ledger (0.ledger/) and its log: out,
rotated at ${mib(maxBytes)} MiB to out.1 ... out.${keep} (the oldest is deleted), so at most ${
  mib(maxBytes * (keep + 1))
} MiB.`;

const fail = (message: string): never => {
  console.error(`sandbox: ${message}\n\n${usage}`);
  Deno.exit(2);
};

const count = (name: string, value: string | undefined, fallback: number, min = 0): number => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}`);
  return n;
};

const readBundle = async (path: string): Promise<AppBundle> => {
  let file = resolve(path);
  if ((await Deno.stat(file)).isDirectory) file = resolve(file, "bundle.json");
  const bundle = JSON.parse(await Deno.readTextFile(file)) as AppBundle;
  validateBundle(bundle);
  return bundle;
};

const main = async () => {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: {
        workspace: { type: "string" },
        port: { type: "string" },
        members: { type: "string" },
        users: { type: "string" },
        "js-app-bundle": { type: "string" },
        "signature-interval-ms": { type: "string" },
        "jwt-key-refresh-interval-s": { type: "string" },
        nodes: { type: "string" },
        "replication-delay-ms": { type: "string" },
        "accept-all-proposals": { type: "boolean" },
        "recover-to-last-good-signature": { type: "boolean" },
        verbose: { type: "boolean", short: "v" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e));
  }
  const args = parsed.values;
  if (args.help) {
    console.log(usage);
    return;
  }
  const workspace = resolve(args.workspace ?? "workspace");
  const port = count("port", args.port, 8000);
  if (port > 65535) fail("--port must be at most 65535");
  const bundle = args["js-app-bundle"] ? await readBundle(args["js-app-bundle"]) : undefined;

  const nodes = count("nodes", args.nodes, 1, 1);
  const started = performance.now();
  const logs = new Map<number, LogFile>();
  // Like CCF's nodes, each writes its full log to sandbox_<i>/out; the terminal shows their lines.
  const record = (index: number, line: string) => {
    let out = logs.get(index);
    if (!out) {
      Deno.mkdirSync(resolve(workspace, `sandbox_${index}`), { recursive: true, mode: 0o700 });
      out = openLogFile({
        path: resolve(workspace, `sandbox_${index}`, "out"),
        ...DEFAULT_LOG_RETENTION,
      });
      logs.set(index, out);
    }
    out.write(`${new Date().toISOString()} ${line}`);
  };
  const tag = (index: number) => nodes === 1 ? "[node]" : `[node ${index}]`;
  const log = (line: string, index: number) => {
    record(index, line);
    console.log(`${tag(index)} ${line}`);
  };
  const appLog = (entry: LogEntry, index: number) => {
    const line = `app ${entry.level}: ${entry.message}`;
    record(index, line);
    if (args.verbose) {
      console.log(`[app${nodes === 1 ? "" : ` ${index}`}] ${entry.level}: ${entry.message}`);
    }
  };
  const options = {
    workspace,
    members: count("members", args.members, 3, 1),
    users: count("users", args.users, 1),
    signatureIntervalMs: count("signature-interval-ms", args["signature-interval-ms"], 1000, 1),
    jwtKeyRefreshIntervalS: count(
      "jwt-key-refresh-interval-s",
      args["jwt-key-refresh-interval-s"],
      DEFAULT_JWT_KEY_REFRESH_INTERVAL_S,
      1,
    ),
    genesisWrites: governanceGenesisWrites,
    recoverToLastGoodSignature: args["recover-to-last-good-signature"] === true,
  };
  const governance = { acceptAllProposals: args["accept-all-proposals"] === true };
  const service = nodes === 1
    ? await startOne(port, options, governance, log, appLog)
    : await startNetwork(
      nodes,
      port,
      governance,
      count(
        "replication-delay-ms",
        args["replication-delay-ms"],
        50,
        0,
      ),
      options,
      log,
      appLog,
      (line) => {
        // The network's own lines (elections, views) go to the first node's log too.
        record(0, line);
        console.log(`[network] ${line.replace(/^network: /, "")}`);
      },
    );
  const node = service.primary()!;

  if (bundle && !isDeployed(node.readTransaction(), bundle)) {
    const commit = node.commitGovernance((tx) => writeAppBundle(tx, bundle));
    await node.appReady();
    console.log(`${service.tag} deployed ${args["js-app-bundle"]} at ${commit?.txId}`);
  }

  const ws = node.workspace;
  const member = ws.members[0];
  const user = ws.users[0];
  const app = node.appEndpoints.length > 0
    ? `${node.appEndpoints.length} endpoints deployed`
    : "no app deployed yet (propose set_js_app)";
  // Listening before the banner: a signal right after it stops cleanly, not by default.
  const interrupted = waitForInterrupt();
  console.log(`
ccf-sandbox: ${service.title} (started in ${Math.round(performance.now() - started)} ms)
${service.where.join("\n")}
  app        ${app}
  ledger     ${ws.paths.ledgerDir}   last committed ${node.ledger.view}.${node.ledger.lastSignedSeqno}
  members    ${ws.members.map((m) => m.name).join(", ")}   users ${
    ws.users.map((u) => u.name).join(", ") || "none"
  }
  governance ${
    governance.acceptAllProposals
      ? "every valid proposal is accepted when proposed (--accept-all-proposals)"
      : "a proposal is accepted once a majority of the members vote for it"
  }
  workspace  ${ws.paths.root}

Environment for the KMS scripts:
export KMS_URL=${service.url}
${
    service.nodeUrls
      ? `export KMS_NODE_URLS=${service.nodeUrls}\n`
      : ""
  }export KMS_SERVICE_CERT_PATH=${ws.paths.serviceCert}
export KMS_MEMBER_CERT_PATH=${member.certPath}
export KMS_MEMBER_PRIVK_PATH=${member.keyPath}
${
    user
      ? `export KMS_USER_CERT_PATH=${user.certPath}\nexport KMS_USER_PRIVK_PATH=${user.keyPath}\n`
      : ""
  }export KMS_WORKSPACE=${ws.paths.root}

Press Ctrl-C to stop.`);

  const signal = await interrupted;
  console.log(`${service.tag} ${signal}: signing pending transactions and closing the ledger`);
  const last = service.primary();
  await service.stop();
  console.log(
    `${service.tag} stopped` +
      (last ? ` at ${last.ledger.view}.${last.ledger.lastSignedSeqno}` : " without a primary"),
  );
  for (const out of logs.values()) out.close();
  Deno.exit(0);
};

/** What the script runs: one node or a network, as the banner describes it. */
interface Service {
  readonly title: string;
  readonly tag: string;
  readonly url: string;
  readonly nodeUrls?: string;
  readonly where: readonly string[];
  /** The node that writes; `null` while a network has none. */
  primary(): SandboxNode | null;
  stop(): Promise<void>;
}

type NodeSettings = Parameters<typeof startSandbox>[0];
type Log = (line: string, index: number) => void;
type AppLog = (entry: LogEntry, index: number) => void;

const startOne = async (
  port: number,
  options: Omit<NodeSettings, "port">,
  governance: InstallOptions,
  log: Log,
  appLog: AppLog,
): Promise<Service> => {
  const sandbox = await startSandbox({
    ...options,
    port,
    log: (line) => log(line, 0),
    appLog: (entry) => appLog(entry, 0),
  });
  await installGovernance(sandbox.node, {
    ...governance,
    log: (line) => console.log(`[node] ${line}`),
  });
  const ws = sandbox.node.workspace;
  return {
    title: "a one-node CCF stand-in",
    tag: "[node]",
    url: sandbox.server.url,
    where: [`  node       ${sandbox.server.url}   node id ${ws.nodeId.slice(0, 16)}…`],
    primary: () => sandbox.node,
    stop: () => sandbox.stop(),
  };
};

const startNetwork = async (
  nodes: number,
  port: number,
  governance: InstallOptions,
  replicationDelayMs: number,
  options: Omit<NodeSettings, "port">,
  log: Log,
  appLog: AppLog,
  note: (line: string) => void,
): Promise<Service> => {
  const network = await SandboxNetwork.start({
    ...options,
    nodes,
    port,
    replicationDelayMs,
    prepare: (node) => installGovernance(node, governance).then(() => {}),
    log: (line, index) => index === null ? note(line) : log(line, index),
    appLog,
  });
  // A crash of the primary on demand: the network elects a backup in a new view.
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGUSR2", () => void network.stopPrimary());
  }
  const where = [
    `  front      ${network.url}   spreads connections over the running nodes`,
    ...network.nodes.map((n) =>
      `  node ${n.index}     ${n.url}   node id ${n.id.slice(0, 16)}…   ${
        n.primary ? "primary" : "backup"
      }`
    ),
    `  network    view ${network.view}, replication delay ${replicationDelayMs} ms; ` +
    `kill -USR2 ${Deno.pid} stops the primary`,
  ];
  return {
    title: `a ${nodes}-node CCF stand-in`,
    tag: "[network]",
    url: network.url,
    nodeUrls: network.nodes.map((n) => n.url).join(","),
    where,
    primary: () => network.primary,
    stop: () => network.stop(),
  };
};

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    // Not a bug to report with a stack: the operator decides what to do with the ledger.
    if (!(e instanceof LedgerIntegrityError)) throw e;
    console.error(`sandbox: ${e.message}`);
    Deno.exit(1);
  }
}
