/**
 * Load benchmark of the sandbox node over loopback HTTPS:
 * - requests/s and p50/p99 latency of `GET /heartbeat`, `GET /listpubkeys` and `POST /key` with
 *   1, 8 and 32 concurrent keep-alive clients, each scenario bounded in time;
 * - the ratios the performance goals are stated in, each from one run against one node: listing
 *   throughput over heartbeat throughput with 1 key (1 and 8 clients) and with a full ring of 256
 *   keys (8 clients), and `POST /app/key`'s p50 while 32 clients read the listing of 256 keys
 *   (and, for reference, while they call the heartbeat) over its p50 alone; the two endpoints of
 *   a throughput ratio take turns in six stretches, so that neither gains from running later;
 * - cold start of `deno task sandbox`: process start until `/node/network` answers, on a new
 *   workspace (certificates, genesis, app deployment) and on a restart (ledger replay).
 *
 * The node runs in a child process (this script with `--serve`), so that the load generator and
 * the node do not share an event loop. The 32 clients next to `/key` run in another child
 * (`--load`): in the process that times `/key`, its answer would also wait behind their answers,
 * which no caller of a KMS does. The node's child trusts a JWT issuer whose key this process
 * holds, sets a key release policy and a JWT validation policy, and creates the keys with their
 * receipts through the node's governance hook, because governance proposals are not part of the
 * node.
 *
 *     deno run -A scripts/bench_sandbox.ts [--seconds 3]
 */
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT } from "jose";
import { buildBundle } from "./bundle.ts";
import { waitForInterrupt } from "./common.ts";
import { compareLoads, type Load, type LoadResult, runLoad } from "./load.ts";
import {
  type AppBundle,
  certificateDer,
  defaultClaims,
  jwtIssuers,
  jwtSigningKeys,
  loadTpmKey,
  startSandbox,
  writeAppBundle,
} from "@kms/sandbox";
import { jwtValidationTable, keyReleaseTable } from "../core/tables.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ISSUER = "https://bench-issuer.example";
const KID = "bench-kid";
const encoder = new TextEncoder();
const json = (v: unknown) => encoder.encode(JSON.stringify(v));

const usage = `deno run -A scripts/bench_sandbox.ts [--seconds 3]

Starts a sandbox node in a child process and prints requests/s and p50/p99 of the KMS endpoints,
the ratios of the performance goals and the node's cold start. --seconds: the time of each run
(the two endpoints of a ratio share it, taking turns).`;

/** Child mode: a node with the KMS app, a trusted issuer, policies and `keys` signed keys. */
async function serve(
  workspace: string,
  bundlePath: string,
  spkiPath: string,
  keys: number,
): Promise<void> {
  const bundle = JSON.parse(await Deno.readTextFile(bundlePath)) as AppBundle;
  const spki = await Deno.readTextFile(spkiPath);
  const sandbox = await startSandbox({ workspace, port: 0, members: 1, users: 1, log: () => {} });
  const { node } = sandbox;
  node.commitGovernance((tx) => {
    writeAppBundle(tx, bundle);
    tx.set(jwtIssuers, encoder.encode(ISSUER), json({ auto_refresh: false }));
    tx.set(jwtSigningKeys, encoder.encode(KID), json([{ public_key: spki, issuer: ISSUER }]));
    tx.set(jwtValidationTable.map, encoder.encode(ISSUER), json({ iss: ISSUER }));
    tx.set(
      keyReleaseTable.map,
      encoder.encode(keyReleaseTable.key),
      json({
        version: 1,
        policy: { claims: { "x-ms-attestation-type": ["azurevm"] }, gte: {}, gt: {} },
      }),
    );
  });
  await node.appReady();
  for (let i = 0; i < keys; i++) {
    const refresh = await node.handle({
      method: "POST",
      path: "/app/refresh",
      query: "",
      headers: {},
      body: new Uint8Array(),
      clientCert: certificateDer(node.workspace.members[0].certPem),
    });
    if (refresh.status !== 200) throw new Error(`refresh failed: ${refresh.status}`);
  }
  node.emitSignature();
  // Receipts come from asynchronous historical queries: the listing answers 202 until they are in.
  const listing = { method: "GET", path: "/app/listpubkeys", query: "", headers: {} };
  const deadline = Date.now() + 10_000;
  while ((await node.handle({ ...listing, body: new Uint8Array() })).status !== 200) {
    if (Date.now() > deadline) throw new Error("the listing did not answer 200 within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  console.log(`BENCH_URL=${sandbox.server.url}`);
  await waitForInterrupt();
  await sandbox.stop();
  Deno.exit(0);
}

/** Child mode: `clients` clients calling `url` for `seconds`; says when warm, then the result. */
async function load(url: string, certPath: string, clients: number, seconds: number) {
  const caCerts = [await Deno.readTextFile(certPath)];
  const result = await runLoad(
    {
      name: `GET ${new URL(url).pathname}`,
      request: () => new Request(url),
      connect: () => Deno.createHttpClient({ caCerts }),
    },
    clients,
    Infinity,
    seconds,
    () => console.log("LOAD_WARM"),
  );
  console.log(`LOAD_RESULT=${JSON.stringify(result)}`);
}

/**
 * A child process whose stdout is drained: `ready` resolves with the first match of `pattern` (and
 * fails if the child ends without printing one), `exited` with the whole output once the child has
 * ended by itself.
 */
function spawn(args: string[], pattern: RegExp) {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  let output = "";
  let found!: (m: string) => void;
  let ended!: (e: Error) => void;
  const ready = new Promise<string>((resolve, reject) => {
    found = resolve;
    ended = reject;
  });
  const drained = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      output += chunk;
      const m = pattern.exec(output);
      if (m) found(m[1]);
    }
    ended(new Error(`the child ${args.join(" ")} ended without printing ${pattern}`));
  })();
  return {
    ready,
    exited: async () => {
      const status = await child.status;
      await drained;
      if (!status.success) {
        throw new Error(`the child ${args.join(" ")} exited with ${status.code}`);
      }
      return output;
    },
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await drained;
    },
  };
}

/** A load on the node, with at most `budget` requests a run (key creation: 256 keys at most). */
type Scenario = Load & { readonly budget?: number };

/** Milliseconds from spawning `deno task sandbox` until `/node/network` answers 200. */
async function coldStart(args: string[], serviceCertPath: () => string): Promise<number> {
  const started = performance.now();
  const child = spawn(["run", "-A", join(root, "scripts/sandbox.ts"), ...args], /KMS_URL=(\S+)/);
  try {
    const url = await child.ready;
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(serviceCertPath())] });
    try {
      for (;;) {
        const r = await fetch(`${url}/node/network`, { client }).catch(() => undefined);
        await r?.arrayBuffer();
        if (r?.status === 200) return performance.now() - started;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } finally {
      client.close();
    }
  } finally {
    await child.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "boolean" },
      load: { type: "boolean" },
      keys: { type: "string" },
      seconds: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: false,
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const positionals = Deno.args.filter((a) => !a.startsWith("--"));
  if (values.serve) {
    const [workspace, bundlePath, spkiPath] = positionals;
    return await serve(workspace, bundlePath, spkiPath, Number(values.keys ?? 1));
  }
  if (values.load) {
    const [url, certPath, clients, loadSeconds] = positionals;
    return await load(url, certPath, Number(clients), Number(loadSeconds));
  }
  const seconds = Number(values.seconds ?? 3);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number\n\n${usage}`);

  const dir = await Deno.makeTempDir({ prefix: "bench-sandbox-" });
  try {
    await buildBundle(join(dir, "dist"));
    const bundlePath = join(dir, "dist", "bundle.json");
    const issuer = await generateKeyPair("RS256", { extractable: true });
    const spki = (await exportSPKI(issuer.publicKey)).replace(/-----[^-]+-----|\s/g, "");
    await Deno.writeTextFile(join(dir, "issuer.spki"), spki);
    const signingKey = await importPKCS8(await exportPKCS8(issuer.privateKey), "RS256");
    const tpm = await loadTpmKey(dir);

    const results: LoadResult[] = [];
    const ratios: string[] = [];
    for (const keys of [1, 256]) {
      const workspace = join(dir, `bench-ws-${keys}`);
      const server = spawn(
        [
          "run",
          "-A",
          fileURLToPath(import.meta.url),
          "--serve",
          `--keys=${keys}`,
          workspace,
          bundlePath,
          join(dir, "issuer.spki"),
        ],
        /BENCH_URL=(\S+)/,
      );
      try {
        const url = await server.ready;
        const serviceCertPem = await Deno.readTextFile(
          join(workspace, "sandbox_common/service_cert.pem"),
        );
        const now = Math.floor(Date.now() / 1000);
        const token = await new SignJWT(
          defaultClaims({ issuer: ISSUER, now, jti: crypto.randomUUID(), tpmKey: tpm.publicJwk }),
        ).setProtectedHeader({ alg: "RS256", kid: KID }).sign(signingKey);
        const connect = () => Deno.createHttpClient({ caCerts: [serviceCertPem] });
        const heartbeat: Scenario = {
          name: `GET /heartbeat (${keys} keys)`,
          request: () => new Request(`${url}/heartbeat`),
          connect,
        };
        const listing: Scenario = {
          name: `GET /listpubkeys (${keys} keys)`,
          request: () => new Request(`${url}/listpubkeys`),
          connect,
        };
        const key: Scenario = {
          name: `POST /app/key (${keys} keys)`,
          request: () =>
            new Request(`${url}/app/key`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}` },
            }),
          connect,
        };
        const report = (r: LoadResult) => {
          results.push(r);
          console.error(
            `${r.name} x${r.clients}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, ` +
              `p99 ${r.p99.toFixed(2)} ms (${r.requests} requests, ${r.errors} non-200)`,
          );
          return r;
        };
        const run = async (scenario: Scenario, clients: number) =>
          report(
            await runLoad(scenario, clients, scenario.budget ?? Infinity, seconds),
          );
        // Whichever scenario ran first would also pay for warming up the JIT of both processes.
        const warmUp = () =>
          Promise.all([heartbeat, listing].map((s) => runLoad(s, 8, Infinity, seconds / 2)));
        // The two endpoints of a ratio take turns, so that neither gains from running later.
        const throughputRatio = async (clients: number) => {
          const [list, beat] = await compareLoads(listing, heartbeat, clients, seconds);
          for (const r of [list, beat]) report(r);
          ratios.push(
            `| /listpubkeys / /heartbeat throughput, ${keys} keys, ${clients} clients | ` +
              `${(list.rps / beat.rps).toFixed(2)} | ${list.rps.toFixed(0)} / ${
                beat.rps.toFixed(0)
              } req/s |`,
          );
        };
        await warmUp();
        if (keys === 1) {
          await throughputRatio(1);
          await throughputRatio(8);
          for (const clients of [32]) await run(heartbeat, clients);
          for (const clients of [32]) await run(listing, clients);
          for (const clients of [1, 8, 32]) await run(key, clients);
          // The write path: key generation in QuickJS, commit, ledger append (signed every 1 s).
          const member = {
            cert: await Deno.readTextFile(join(workspace, "sandbox_common/member0_cert.pem")),
            key: await Deno.readTextFile(join(workspace, "sandbox_common/member0_privk.pem")),
          };
          const refresh: Scenario = {
            name: "POST /app/refresh",
            request: () => new Request(`${url}/app/refresh`, { method: "POST" }),
            connect: () => Deno.createHttpClient({ caCerts: [serviceCertPem], ...member }),
            budget: 100,
          };
          for (const clients of [1, 8]) await run(refresh, clients);
        } else {
          await throughputRatio(8);
          const alone = await run(key, 1);
          // The same next to the cheapest endpoint: how long /key waits behind any 32 clients.
          const backgrounds = [["/listpubkeys", listing], ["/heartbeat", heartbeat]] as const;
          for (const [path, background] of backgrounds) {
            // The 32 clients run a second longer than /key, so that they outlast it.
            const clients = spawn([
              "run",
              "-A",
              fileURLToPath(import.meta.url),
              "--load",
              `${url}${path}`,
              join(workspace, "sandbox_common/service_cert.pem"),
              "32",
              String(seconds + 1),
            ], /(LOAD_WARM)/);
            try {
              await clients.ready;
              const loaded = await run({
                ...key,
                name: `${key.name} while 32 clients call ${path}`,
              }, 1);
              const output = await clients.exited();
              const result = JSON.parse(/LOAD_RESULT=(.*)/.exec(output)![1]) as LoadResult;
              report({ ...result, name: `${background.name}, another process` });
              ratios.push(
                `| /key p50 while 32 clients call ${path} (${keys} keys) / alone | ` +
                  `${(loaded.p50 / alone.p50).toFixed(2)} | ${loaded.p50.toFixed(2)} / ${
                    alone.p50.toFixed(2)
                  } ms |`,
              );
            } finally {
              await clients.stop();
            }
          }
        }
      } finally {
        await server.stop();
      }
    }

    const coldDir = join(dir, "cold-ws");
    const coldArgs = ["--workspace", coldDir, "--port", "0", "--js-app-bundle", bundlePath];
    const cert = () => join(coldDir, "sandbox_common/service_cert.pem");
    const fresh = await coldStart(coldArgs, cert);
    const restarts = [];
    for (let i = 0; i < 3; i++) restarts.push(await coldStart(coldArgs, cert));

    console.log("| endpoint | clients | requests | req/s | p50 ms | p99 ms | non-200 |");
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const r of results) {
      console.log(
        `| ${r.name} | ${r.clients} | ${r.requests} | ${r.rps.toFixed(0)} | ` +
          `${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} |`,
      );
    }
    console.log("\n| ratio | value | from |");
    console.log("|---|---:|---|");
    for (const line of ratios) console.log(line);
    console.log(`\ncold start, new workspace (keys, genesis, deploy): ${fresh.toFixed(0)} ms`);
    console.log(
      `cold start, restart (ledger replay): ${restarts.map((t) => t.toFixed(0)).join(", ")} ms`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
