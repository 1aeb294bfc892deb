/**
 * `deno task demo`: the whole product on one machine, step by step. It builds the app, starts a
 * sandbox (a one-node CCF stand-in) and the demo attestation issuer, deploys the app and the KMS's
 * governance actions by majority vote, trusts the issuer, sets the seed's key release policy and a
 * rotation policy, creates a key, verifies its receipt, releases it to an attested caller, shows a
 * denial, and sends one request through an OHTTP gateway. Everything it starts is stopped at the end.
 *
 * `deno task start` runs the same setup on fixed ports and keeps serving (see `--help`); with
 * `--nodes N` either runs on a network of N sandbox nodes behind one address.
 */
import * as E from "fp-ts/lib/Either.js";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createKmsClient, type KmsClient } from "../client/kms/client.ts";
import { receiptVerifier } from "../client/kms/receiptVerifier.ts";
import {
  governanceGenesisWrites,
  installGovernance,
  loadTpmKey,
  SandboxNetwork,
  startAttestationIssuer,
  startSandbox,
  type TpmKey,
} from "@kms/sandbox";
import { createGateway } from "../client/gateway/gateway.ts";
import { postRequest, sendOhttpRequest } from "../client/gateway/sendRequest.ts";
import { fetchDemoToken, waitForInterrupt } from "./common.ts";
import { runKms } from "./kms/cli.ts";

const root = resolve(fileURLToPath(import.meta.url), "..", "..");

const usage = `deno task demo [--workspace DIR] [--nodes N] [--verbose]
deno task start [--workspace DIR] [--port 8000] [--idp-port 3000] [--nodes N]

demo:  runs every step once on a fresh temporary workspace (or DIR), prints ✓/✗ per step and the
       total time, stops everything it started, and exits non-zero on any failure.
start: the same setup on fixed ports (sandbox 8000, issuer 3000, workspace ./workspace), then keeps
       serving and prints the environment variables for curl and \`deno task kms\`. Ctrl-C stops it.
--nodes N: a network of N sandbox nodes (default 1): the KMS is at a front address (the port)
       that spreads connections over the nodes (the next ports); backups forward writes to the
       primary and lag behind it, each node fetches receipts on its own, and SIGUSR2 stops the
       primary (a backup takes over in a new view).`;

interface Ctx {
  readonly workspace: string;
  readonly serve: boolean;
  readonly verbose: boolean;
  readonly nodes: number;
  readonly ports: { readonly sandbox: number; readonly idp: number };
  readonly cleanups: (() => Promise<void> | void)[];
  kmsUrl?: string;
  serviceCertPem?: string;
  idpUrl?: string;
  kms?: KmsClient;
  nodeUrls?: readonly string[];
  tpm?: Promise<TpmKey>;
  env?: Record<string, string>;
}

interface Step {
  readonly title: string;
  readonly proves: string;
  readonly run: (ctx: Ctx) => Promise<string>;
}

/** Runs one `deno task kms` command in process; returns its last result line, or throws its error. */
const kms = async (ctx: Ctx, ...argv: string[]): Promise<string> => {
  const out: string[] = [], err: string[] = [];
  const status = await runKms(argv, {
    streams: { stdout: (l) => out.push(l), stderr: (l) => err.push(l) },
    env: ctx.env!,
    cwd: root,
    readStdin: () => Promise.resolve(""),
    clock: Date.now,
  });
  if (ctx.verbose) [...err, ...out].forEach((l) => console.log(`       | ${l}`));
  if (status !== 0) {
    throw new Error(err.filter((l) => !l.startsWith("...")).join(" ") || `exit ${status}`);
  }
  return out.find((l) => l.startsWith("state:")) ?? out.at(-1) ?? "";
};

const token = (ctx: Ctx, claims = ""): Promise<string> =>
  fetchDemoToken(new URL(ctx.idpUrl!), claims);

/** The demo TPM key of the workspace, read from disk once for every step that unwraps. */
const tpmKey = (ctx: Ctx): Promise<TpmKey> => ctx.tpm ??= loadTpmKey(ctx.workspace);

/**
 * `/listpubkeys` as the KMS answers it, asked again after a 202 (the answering node may still be
 * fetching the receipts) as long as the KMS client would.
 */
const rawListing = async (ctx: Ctx): Promise<{ publicKey: string; receipt: string }[]> => {
  const http = Deno.createHttpClient({ caCerts: [ctx.serviceCertPem!] });
  try {
    for (let attempt = 1;; attempt++) {
      const response = await fetch(`${ctx.kmsUrl}/listpubkeys`, { client: http });
      if (response.status !== 202 || attempt === 30) return await response.json();
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    http.close();
  }
};

const orThrow = <A>(result: E.Either<{ message: string }, A>): A => {
  if (E.isLeft(result)) throw new Error(result.left.message);
  return result.right;
};

/** Starts the sandbox: one node, or a network of `ctx.nodes`; answers its URL and certificate. */
const startService = async (ctx: Ctx): Promise<{ url: string; serviceCertPem: string }> => {
  const settings = {
    workspace: ctx.workspace,
    port: ctx.ports.sandbox,
    members: 3,
    users: 1,
    genesisWrites: governanceGenesisWrites,
  };
  if (ctx.nodes === 1) {
    const sandbox = await startSandbox({
      ...settings,
      log: (line) => ctx.verbose && console.log(`       [node] ${line}`),
    });
    ctx.cleanups.push(() => sandbox.stop());
    await installGovernance(sandbox.node, { log: () => {} });
    return { url: sandbox.server.url, serviceCertPem: sandbox.node.serviceCertPem };
  }
  const network = await SandboxNetwork.start({
    ...settings,
    nodes: ctx.nodes,
    prepare: (node) => installGovernance(node).then(() => {}),
    log: (line, index) =>
      ctx.verbose &&
      console.log(`       [${index === null ? "network" : `node ${index}`}] ${line}`),
  });
  ctx.cleanups.push(() => network.stop());
  const stopPrimary = () => void network.stopPrimary();
  if (Deno.build.os !== "windows") {
    Deno.addSignalListener("SIGUSR2", stopPrimary);
    ctx.cleanups.push(() => Deno.removeSignalListener("SIGUSR2", stopPrimary));
  }
  ctx.nodeUrls = network.nodes.map((n) => n.url);
  return { url: network.url, serviceCertPem: network.primary!.serviceCertPem };
};

const steps = (nodes: number): Step[] => [
  {
    title: nodes === 1
      ? "Start a one-node CCF sandbox with 3 members and 1 user"
      : `Start a ${nodes}-node CCF sandbox network with 3 members and 1 user`,
    proves: nodes === 1
      ? "HTTPS with a service certificate that endorses the node; a ledger on disk"
      : "one address in front of nodes whose certificates the service certificate endorses",
    run: async (ctx) => {
      const service = await startService(ctx);
      const common = join(ctx.workspace, "sandbox_common");
      ctx.kmsUrl = service.url;
      ctx.serviceCertPem = service.serviceCertPem;
      ctx.env = {
        KMS_URL: ctx.kmsUrl,
        ...(ctx.nodeUrls ? { KMS_NODE_URLS: ctx.nodeUrls.join(",") } : {}),
        KMS_WORKSPACE: ctx.workspace,
        KMS_SERVICE_CERT_PATH: join(common, "service_cert.pem"),
        KMS_MEMBER_CERT_PATH: join(common, "member0_cert.pem"),
        KMS_MEMBER_PRIVK_PATH: join(common, "member0_privk.pem"),
        KMS_USER_CERT_PATH: join(common, "user0_cert.pem"),
        KMS_USER_PRIVK_PATH: join(common, "user0_privk.pem"),
      };
      ctx.kms = createKmsClient({ url: ctx.kmsUrl, serviceCertPem: ctx.serviceCertPem });
      ctx.cleanups.push(() => ctx.kms?.close());
      return ctx.nodeUrls ? `${ctx.kmsUrl} in front of ${ctx.nodeUrls.join(", ")}` : ctx.kmsUrl;
    },
  },
  {
    title: "Start the demo attestation issuer (stands in for Azure Attestation)",
    proves: "RS256 tokens with MAA-like claims and the VM's TPM key in x-ms-runtime.keys",
    run: async (ctx) => {
      const idp = await startAttestationIssuer({ workspace: ctx.workspace, port: ctx.ports.idp });
      ctx.cleanups.push(() => idp.stop());
      ctx.idpUrl = idp.url;
      return idp.url;
    },
  },
  {
    title: "Deploy the KMS app: member0 proposes set_js_app, members 0 and 1 vote",
    proves: "the app is built (one ES2020 module) and deployed only by a majority of members",
    run: (ctx) =>
      kms(ctx, "deploy", "--build", "--dist", join(ctx.workspace, "dist"), "--vote-with", "0,1"),
  },
  {
    title: "Add the KMS governance actions to the constitution",
    proves: "set_constitution appends the KMS actions to CCF's constitution, by vote",
    run: (ctx) =>
      kms(
        ctx,
        "constitution",
        "--add-kms-actions",
        "--dist",
        join(ctx.workspace, "dist"),
        "--vote-with",
        "0,1",
      ),
  },
  {
    title: "Trust the demo issuer (set_jwt_issuer + set_jwt_validation_policy)",
    proves: "only tokens of issuers trusted through governance authenticate",
    run: (ctx) =>
      kms(
        ctx,
        "trust-issuer",
        "http://Demo-jwt-issuer",
        "--demo",
        "--idp-url",
        ctx.idpUrl!,
        "--vote-with",
        "0,1",
      ),
  },
  {
    title: "Set the seed's key release policy (x-ms-ver, debuggers disabled, OS 22-23)",
    proves: "set_key_release_policy through a voted proposal; the policy is versioned",
    run: (ctx) =>
      kms(
        ctx,
        "policy",
        "add",
        join(root, "governance/policies/key-release-policy-add.json"),
        "--vote-with",
        "0,1",
      ),
  },
  {
    title: "Set a rotation policy",
    proves: "set_key_rotation_policy through a voted proposal",
    run: (ctx) =>
      kms(
        ctx,
        "rotation",
        join(root, "governance/policies/key-rotation-policy.json"),
        "--vote-with",
        "0,1",
      ),
  },
  {
    title: "Create a key (POST /app/refresh as member0)",
    proves: "the key pair is generated inside the KMS; its receipt binds the KeyConfig",
    run: (ctx) => kms(ctx, "refresh"),
  },
  {
    title: "List the public keys and verify their receipts",
    proves:
      "the client trusts a key only after its receipt verifies against the service certificate",
    run: async (ctx) => {
      const keys = orThrow(await ctx.kms!.listKeys());
      const newest = keys[keys.length - 1];
      return `${keys.length} key(s), newest kid ${newest.keyId}, KeyConfig ${
        newest.publicKey.slice(0, 16)
      }…`;
    },
  },
  {
    title: "A receipt checked against another service certificate is refused",
    proves: "receipt verification fails closed",
    run: async (ctx) => {
      const listing = await rawListing(ctx);
      const stranger = await Deno.readTextFile(join(ctx.workspace, "idp", "signing_cert.pem"));
      const r = await receiptVerifier(stranger).verify(listing[0].receipt, listing[0].publicKey);
      if (E.isRight(r)) throw new Error("a receipt verified against the wrong service certificate");
      return `refused (${r.left._tag === "InvalidReceipt" ? r.left.check : r.left._tag})`;
    },
  },
  {
    title: "Release the private key to an attested VM and unwrap it with its TPM key",
    proves: "keys leave the KMS only wrapped to the attested VM's key, and match the published key",
    run: async (ctx) => {
      const tpm = await tpmKey(ctx);
      const released = orThrow(
        await ctx.kms!.releaseKey({ token: await token(ctx), unwrap: tpm.unwrap }),
      );
      return `kid ${released.keyId}: unwrapped, d matches the published KeyConfig, receipt verified`;
    },
  },
  {
    title: "A token that violates the policy is refused with the reasons",
    proves: "the key release policy is enforced and every failed rule is reported",
    run: async (ctx) => {
      const tpm = await tpmKey(ctx);
      const bad = await token(ctx, "?x-ms-azurevm-osversion-major=21");
      const r = await ctx.kms!.releaseKey({ token: bad, unwrap: tpm.unwrap });
      if (E.isRight(r) || r.left._tag !== "PolicyDenied") {
        throw new Error(`expected a policy denial, got ${E.isRight(r) ? "a key" : r.left._tag}`);
      }
      return `403 PolicyDenied, ${r.left.failures.length} failed rules`;
    },
  },
  {
    title: "Send one prompt through an OHTTP gateway that gets its key from the KMS",
    proves: "client → gateway → model and back, end to end encrypted with the KMS's key",
    run: async (ctx) => {
      const target = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        async (req) => new Response(`model saw: ${await req.text()}`),
      );
      ctx.cleanups.push(() => target.shutdown());
      const tpm = await tpmKey(ctx);
      const gateway = createGateway({
        kms: ctx.kms!,
        token: () => token(ctx),
        unwrap: tpm.unwrap,
        target: new URL(`http://127.0.0.1:${target.addr.port}`),
      });
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        gateway.handle,
      );
      ctx.cleanups.push(() => server.shutdown());
      const keys = orThrow(await ctx.kms!.listKeys());
      const prompt = "What is a TEE?";
      const answer = orThrow(
        await sendOhttpRequest({
          url: `http://127.0.0.1:${server.addr.port}/score`,
          config: keys[keys.length - 1].config,
          request: postRequest("/v1/completions", new TextEncoder().encode(prompt), "text/plain"),
        }),
      );
      const body = await new Response(answer.body).text();
      if (answer.status !== 200 || body !== `model saw: ${prompt}`) {
        throw new Error(`unexpected answer ${answer.status}: ${body.slice(0, 80)}`);
      }
      return `HTTP ${answer.status}, "${body}"`;
    },
  },
];

const runSteps = async (ctx: Ctx): Promise<boolean> => {
  for (const [i, step] of steps(ctx.nodes).entries()) {
    const started = performance.now();
    console.log(`${String(i + 1).padStart(2)}. ${step.title}`);
    try {
      const detail = await step.run(ctx);
      const ms = Math.round(performance.now() - started);
      console.log(`    ✓ ${detail} (${ms} ms)\n      proves: ${step.proves}`);
    } catch (e) {
      console.log(`    ✗ ${(e as Error).message}`);
      return false;
    }
  }
  return true;
};

const nodesOf = (value: string | undefined): number => {
  const n = Number(value ?? 1);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`demo: --nodes must be an integer >= 1\n\n${usage}`);
    Deno.exit(2);
  }
  return n;
};

const main = async (): Promise<number> => {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      workspace: { type: "string" },
      serve: { type: "boolean", default: false },
      port: { type: "string" },
      "idp-port": { type: "string" },
      nodes: { type: "string" },
      verbose: { type: "boolean", short: "v", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (args.help) {
    console.log(usage);
    return 0;
  }
  const serve = args.serve!;
  const workspace = args.workspace
    ? resolve(Deno.env.get("INIT_CWD") ?? Deno.cwd(), args.workspace)
    : serve
    ? join(root, "workspace")
    : await Deno.makeTempDir({ prefix: "kms-demo-" });
  const ctx: Ctx = {
    workspace,
    serve,
    verbose: args.verbose!,
    nodes: nodesOf(args.nodes),
    ports: {
      sandbox: Number(args.port ?? (serve ? 8000 : 0)),
      idp: Number(args["idp-port"] ?? (serve ? 3000 : 0)),
    },
    cleanups: [],
  };
  const started = performance.now();
  console.log(`Transparent KMS demo (workspace ${workspace})\n`);
  let ok = false;
  try {
    ok = await runSteps(ctx);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`\n${ok ? "✓ all steps passed" : "✗ the demo failed"} in ${seconds} s`);
    if (ok && serve) {
      console.log("\nServing. Environment for curl and `deno task kms`:");
      for (const [k, v] of Object.entries(ctx.env!)) console.log(`export ${k}=${v}`);
      console.log(`export AadEndpoint=${ctx.idpUrl}/token\n`);
      if (ctx.nodes > 1) {
        console.log(`kill -USR2 ${Deno.pid} stops the primary (a backup takes over).`);
      }
      console.log("Press Ctrl-C to stop.");
      await waitForInterrupt();
    }
  } finally {
    for (const cleanup of ctx.cleanups.reverse()) await cleanup();
    if (!args.workspace && !serve) await Deno.remove(workspace, { recursive: true });
  }
  return ok ? 0 : 1;
};

Deno.exit(await main());
