/**
 * A sandbox with governance for the CLI's end-to-end test, run as its own process like
 * `deno task sandbox`: `deno run -A _sandbox.ts <workspace>` prints the environment the KMS
 * scripts read, then "Press Ctrl-C to stop.", and stops cleanly on SIGTERM.
 */
import { startSandbox } from "../../../ccf/sandbox/node/mod.ts";
import { governanceGenesisWrites, installGovernance } from "../../../ccf/sandbox/governance/mod.ts";

if (import.meta.main) {
  const [workspace] = Deno.args;
  const sandbox = await startSandbox({
    workspace,
    port: 0,
    members: 3,
    users: 1,
    signatureIntervalMs: 50,
    genesisWrites: governanceGenesisWrites,
    log: (line) => console.error(`[node] ${line}`),
    appLog: (entry) => console.error(`[app] ${entry.level}: ${entry.message}`),
  });
  await installGovernance(sandbox.node, { log: (line) => console.error(`[gov] ${line}`) });
  const { paths, members } = sandbox.node.workspace;
  console.log([
    `export KMS_URL=${sandbox.server.url}`,
    `export KMS_SERVICE_CERT_PATH=${paths.serviceCert}`,
    `export KMS_MEMBER_CERT_PATH=${members[0].certPath}`,
    `export KMS_MEMBER_PRIVK_PATH=${members[0].keyPath}`,
    `export KMS_WORKSPACE=${paths.root}`,
    "Press Ctrl-C to stop.",
  ].join("\n"));
  Deno.addSignalListener("SIGTERM", async () => {
    await sandbox.stop();
    Deno.exit(0);
  });
}
