/**
 * `deno task sandbox`: runs the one-node CCF stand-in on https://127.0.0.1:8000 with a workspace
 * laid out like CCF's `sandbox.sh` one, and prints the environment the KMS scripts expect.
 * Ctrl-C or SIGTERM stops it cleanly: pending transactions are signed and the ledger is closed.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import {
  type AppBundle,
  DEFAULT_JWT_KEY_REFRESH_INTERVAL_S,
  DEFAULT_LOG_RETENTION,
  governanceGenesisWrites,
  installGovernance,
  isDeployed,
  openLogFile,
  startSandbox,
  validateBundle,
  writeAppBundle,
} from "@kms/sandbox";
import { waitForInterrupt } from "./common.ts";

const { maxBytes, keep } = DEFAULT_LOG_RETENTION;
const mib = (bytes: number) => bytes / 2 ** 20;

const usage = `deno task sandbox [options]

Runs a one-node CCF stand-in (the sandbox) serving the deployed JavaScript app over HTTPS.

Options:
  --workspace DIR              workspace directory, created or reused (default: ./workspace)
  --port N                     HTTPS port on 127.0.0.1; 0 picks a free one (default: 8000)
  --members N                  members to create and register as Active on first start (default: 3)
  --users N                    users to create and register on first start (default: 1)
  --js-app-bundle PATH         deploy this set_js_app bundle (bundle.json, or a directory holding
                               one, e.g. dist) at start, unless it is already the deployed app
  --signature-interval-ms N    milliseconds between signature transactions (default: 1000)
  --jwt-key-refresh-interval-s N
                               seconds between refreshes of the signing keys of JWT issuers set
                               with auto_refresh (CCF's jwt.key_refresh_interval_s; default:
                               1800); keys are also refreshed at start and when an issuer is set
  -v, --verbose                also print the app's console output (always in sandbox_0/out)
  -h, --help                   show this help

Files: <workspace>/sandbox_common/ holds service_cert.pem and member{i}_/user{i}_ cert and key
files; <workspace>/sandbox_0/ holds the node's keys, the ledger (0.ledger/) and the log: out,
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

  const started = performance.now();
  await Deno.mkdir(resolve(workspace, "sandbox_0"), { recursive: true, mode: 0o700 });
  // Like CCF's node, the full log goes to sandbox_0/out; the terminal shows the node's own lines.
  const out = openLogFile({
    path: resolve(workspace, "sandbox_0", "out"),
    ...DEFAULT_LOG_RETENTION,
  });
  const record = (line: string) => out.write(`${new Date().toISOString()} ${line}`);
  const sandbox = await startSandbox({
    workspace,
    port,
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
    log: (line) => {
      record(line);
      console.log(`[node] ${line}`);
    },
    appLog: (entry) => {
      const line = `app ${entry.level}: ${entry.message}`;
      record(line);
      if (args.verbose) console.log(`[app] ${entry.level}: ${entry.message}`);
    },
  });
  const { node, server } = sandbox;
  await installGovernance(node, { log: (line) => console.log(`[node] ${line}`) });

  if (bundle && !isDeployed(node.readTransaction(), bundle)) {
    const commit = node.commitGovernance((tx) => writeAppBundle(tx, bundle));
    await node.appReady();
    console.log(`[node] deployed ${args["js-app-bundle"]} at ${commit?.txId}`);
  }

  const ws = node.workspace;
  const member = ws.members[0];
  const user = ws.users[0];
  const app = node.appEndpoints.length > 0
    ? `${node.appEndpoints.length} endpoints deployed`
    : "no app deployed yet (propose set_js_app)";
  console.log(`
ccf-sandbox: a one-node CCF stand-in (started in ${Math.round(performance.now() - started)} ms)
  node       ${server.url}   node id ${ws.nodeId.slice(0, 16)}…
  app        ${app}
  ledger     ${ws.paths.ledgerDir}   last committed ${node.ledger.view}.${node.ledger.lastSignedSeqno}
  members    ${ws.members.map((m) => m.name).join(", ")}   users ${
    ws.users.map((u) => u.name).join(", ") || "none"
  }
  workspace  ${ws.paths.root}

Environment for the KMS scripts:
export KMS_URL=${server.url}
export KMS_SERVICE_CERT_PATH=${ws.paths.serviceCert}
export KMS_MEMBER_CERT_PATH=${member.certPath}
export KMS_MEMBER_PRIVK_PATH=${member.keyPath}
${
    user
      ? `export KMS_USER_CERT_PATH=${user.certPath}\nexport KMS_USER_PRIVK_PATH=${user.keyPath}\n`
      : ""
  }export KMS_WORKSPACE=${ws.paths.root}

Press Ctrl-C to stop.`);

  const signal = await waitForInterrupt();
  console.log(`[node] ${signal}: signing pending transactions and closing the ledger`);
  await sandbox.stop();
  console.log(`[node] stopped at ${node.ledger.view}.${node.ledger.lastSignedSeqno}`);
  out.close();
  Deno.exit(0);
};

if (import.meta.main) await main();
