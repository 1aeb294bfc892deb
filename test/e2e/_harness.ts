/**
 * Shared set-up of the end-to-end suite: a KMS on a real sandbox process (`scripts/sandbox.ts`,
 * the same entry point as `deno task sandbox`), the demo attestation issuer in process, governance
 * through the operator CLI (`runKms`, in process), and HTTPS calls pinned to the service
 * certificate with or without a client certificate or an attestation token.
 *
 * Everything a run prints is kept (the sandbox's stdout and stderr across restarts, the issuer's
 * request log, the CLI's output, the gateway's log) so that a test can check at the end that no
 * secret it saw reached a log: see {@link Kms.assertLogsFreeOfSecrets}.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";
import { base64, base64urlnopad } from "@scure/base";
import * as E from "fp-ts/lib/Either.js";
import { toHex } from "../../core/bytes.ts";
import { decodePrivateKeyCbor, type P384PrivateKey } from "../../core/keys/privateKeyCbor.ts";
import {
  type AttestationIssuer,
  loadTpmKey,
  startAttestationIssuer,
  type TpmKey,
} from "@kms/sandbox";
import { createKmsClient, type KmsClient } from "../../client/kms/client.ts";
import { runKms } from "../../scripts/kms/cli.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = (name: string) => join(root, "scripts", `${name}.ts`);

/** The sandbox signs pending transactions every second; receipts may take a few on a loaded box. */
export const RECEIPT_TIMEOUT_MS = 20_000;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls `attempt` until `done` accepts its result, at most until `timeoutMs` has passed; answers
 * the accepted result or fails with the last one. Bounded polling instead of fixed sleeps, so a
 * slow machine only takes longer.
 */
export const poll = async <A>(
  what: string,
  attempt: () => Promise<A>,
  done: (a: A) => boolean,
  { timeoutMs = RECEIPT_TIMEOUT_MS, intervalMs = 100 } = {},
): Promise<A> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await attempt();
    if (done(result)) return result;
    if (Date.now() > deadline) {
      assert.fail(`${what}: still not done after ${timeoutMs} ms, last: ${show(result)}`);
    }
    await sleep(intervalMs);
  }
};

const show = (value: unknown): string => {
  try {
    return JSON.stringify(value).slice(0, 500);
  } catch {
    return String(value);
  }
};

/** Builds the app bundle in a child process, so that esbuild's service never runs in the test. */
export const buildBundle = async (out: string): Promise<void> => {
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script("bundle"), "--out", out],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stderr) + new TextDecoder().decode(run.stdout);
  assert.equal(run.code, 0, `deno task bundle failed:\n${text}`);
};

/** A sandbox process, as `deno task sandbox` runs it. */
export interface SandboxProcess {
  /** The service root, e.g. `https://127.0.0.1:40123`. */
  readonly url: string;
  /** What the sandbox printed for the KMS scripts (`KMS_URL`, `KMS_SERVICE_CERT_PATH`, ...). */
  readonly env: Readonly<Record<string, string>>;
  /** The nodes' own URLs, with `--nodes`; empty for one node. */
  readonly nodeUrls: readonly string[];
  /**
   * Sends SIGUSR2 (a network stops its primary, as a crash would) and waits until the network
   * names the next primary; answers the line that does.
   */
  stopPrimary(): Promise<string>;
  /** Sends SIGTERM and waits for a clean exit; answers the exit code. */
  stop(): Promise<number>;
}

/**
 * Starts `scripts/sandbox.ts` on a free port (`--port 0`) in `workspace`, with the app's console
 * lines on stdout (`-v`), and waits for the environment it prints. Every chunk of stdout and
 * stderr goes to `sink`.
 */
export const spawnSandbox = async (
  workspace: string,
  sink: (text: string) => void,
  { signatureIntervalMs, jwtKeyRefreshIntervalS, nodes }: {
    signatureIntervalMs?: number;
    jwtKeyRefreshIntervalS?: number;
    nodes?: number;
  } = {},
): Promise<SandboxProcess> => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      script("sandbox"),
      "--workspace",
      workspace,
      "--port",
      "0",
      "-v",
      ...(signatureIntervalMs ? ["--signature-interval-ms", String(signatureIntervalMs)] : []),
      ...(jwtKeyRefreshIntervalS
        ? ["--jwt-key-refresh-interval-s", String(jwtKeyRefreshIntervalS)]
        : []),
      ...(nodes ? ["--nodes", String(nodes)] : []),
    ],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let banner = "";
  const drain = async (stream: ReadableStream<Uint8Array>, keep: boolean) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      if (keep) banner += text;
      sink(text);
    }
  };
  const drained = Promise.all([drain(child.stdout, true), drain(child.stderr, false)]);
  const exited = child.status;
  let exitedEarly = false;
  exited.then(() => exitedEarly = true);
  const deadline = Date.now() + 60_000;
  while (!banner.includes("Press Ctrl-C to stop.")) {
    if (exitedEarly || Date.now() > deadline) {
      if (!exitedEarly) child.kill("SIGKILL");
      await exited;
      await drained;
      assert.fail(`the sandbox did not start:\n${banner}`);
    }
    await sleep(25);
  }
  const env = Object.fromEntries(
    [...banner.matchAll(/^export (KMS_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]),
  );
  assert.match(env.KMS_URL ?? "", /^https:\/\/127\.0\.0\.1:\d+$/, banner);
  let stopping: Promise<number> | undefined;
  const elected = /^\[network\] (node \d+ is primary in view \d+.*|no primary.*)$/gm;
  return {
    url: env.KMS_URL,
    env,
    nodeUrls: env.KMS_NODE_URLS ? env.KMS_NODE_URLS.split(",") : [],
    stopPrimary: async () => {
      const before = [...banner.matchAll(elected)].length;
      child.kill("SIGUSR2");
      const deadline = Date.now() + 60_000;
      for (;;) {
        const lines = [...banner.matchAll(elected)];
        if (lines.length > before) return lines[lines.length - 1][1];
        if (exitedEarly || Date.now() > deadline) assert.fail(`no new primary:\n${banner}`);
        await sleep(25);
      }
    },
    stop: () =>
      stopping ??= (async () => {
        if (!exitedEarly) child.kill("SIGTERM");
        const { code } = await exited;
        await drained;
        return code;
      })(),
  };
};

/** Who calls the service. */
export type Caller = "anonymous" | "user" | "member" | { readonly token: string };

/** An HTTP answer with its body read: parsed JSON when it is JSON, else undefined. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // deno-lint-ignore no-explicit-any
  readonly body: any;
}

/** A private key released by the KMS and unwrapped with the demo TPM key. */
export interface Unwrapped {
  readonly kid: number;
  /** The wrapped key exactly as the KMS answered it (standard base64). */
  readonly wrapped: string;
  readonly receipt: string;
  readonly privateKey: P384PrivateKey;
}

/** How {@link startKms} prepares the service. */
export interface KmsSetup {
  /** Trust the demo issuer (set_jwt_issuer + set_jwt_validation_policy). */
  readonly trustIssuer?: boolean;
  /** Add the seed's key release policy (governance/policies/key-release-policy-add.json). */
  readonly releasePolicy?: boolean;
  /** Set this rotation policy. */
  readonly rotation?: { readonly interval: number; readonly grace: number };
  /** Passed to the sandbox; its default is 1000 ms. */
  readonly signatureIntervalMs?: number;
  /** Nodes of the sandbox network (`--nodes`; default one node). */
  readonly nodes?: number;
  /** Passed to the sandbox; its default is CCF's 1800 s. */
  readonly jwtKeyRefreshIntervalS?: number;
}

/** Where {@link Kms.call} sends a request. */
export interface Via {
  /** Another root than the service's, e.g. one node of a network. */
  readonly url?: string;
  /** A connection of its own, closed afterwards. */
  readonly fresh?: boolean;
}

/** A KMS on a sandbox process, with an attestation issuer and the operator's CLI. */
export interface Kms {
  readonly workspace: string;
  /** The current service root; a restart picks a new port. */
  readonly url: string;
  readonly serviceCertPem: string;
  readonly idp: AttestationIssuer;
  readonly tpm: TpmKey;
  /** Runs `deno task kms <argv>` in process; throws with its output unless it exits 0. */
  cli(argv: readonly string[], stdin?: string): Promise<string>;
  /** Runs `deno task kms <argv>` in process and answers its exit code and output. */
  cliRun(argv: readonly string[], stdin?: string): Promise<{ code: number; output: string }>;
  /**
   * A request to the service as `caller`, pinned to the service certificate, over the caller's
   * connection; `via.url` sends it to another root (a node of a network), `via.fresh` over a new
   * connection (a new session, which the front may send to another node).
   */
  call(method: "GET" | "POST", path: string, caller?: Caller, via?: Via): Promise<Reply>;
  /** The nodes' own URLs when the sandbox is a network; empty for one node. */
  readonly nodeUrls: readonly string[];
  /** Stops the network's primary as a crash would; resolves once the network names the next. */
  stopPrimary(): Promise<string>;
  /** A fresh attestation token from the demo issuer; `query` overrides claims (`?a=1&omit=b`). */
  token(query?: string): Promise<string>;
  /** POST /app/key with a token; a 200's key is unwrapped with the demo TPM key. */
  releaseKey(token: string, query?: string): Promise<{ reply: Reply; key?: Unwrapped }>;
  /**
   * A KMS client (receipts verified against the service certificate) of the service, or of the
   * root `url`; closed with the KMS.
   */
  client(url?: string): KmsClient;
  /** Remembers a secret that must never reach a log. */
  secret(value: string): void;
  /** Remembers a log line that this test produced itself (e.g. a gateway's). */
  log(line: string): void;
  /** SIGTERM to the sandbox, then the same workspace started again. */
  restart(): Promise<void>;
  /** Fails if any log of the run contains any remembered secret. */
  assertLogsFreeOfSecrets(): Promise<void>;
  /** Stops everything and removes the workspace. */
  close(): Promise<void>;
}

/** The hex, base64 and base64url forms of a secret byte string, as they could appear in a log. */
export const secretForms = (bytes: Uint8Array): string[] => [
  toHex(bytes),
  toHex(bytes).toUpperCase(),
  base64.encode(bytes),
  base64urlnopad.encode(bytes),
];

/**
 * Starts a KMS: builds the bundle, spawns the sandbox, starts the issuer, deploys the app and the
 * KMS's governance actions by majority vote, then applies `setup`.
 */
export const startKms = async (setup: KmsSetup = {}): Promise<Kms> => {
  const workspace = await Deno.makeTempDir({ prefix: "kms-e2e-" });
  const dist = join(workspace, "dist");
  const logs: string[] = [];
  const secrets = new Set<string>();
  const clients: KmsClient[] = [];
  const cleanups: (() => Promise<unknown> | void)[] = [];
  const common = join(workspace, "sandbox_common");
  const pem = (name: string) => Deno.readTextFileSync(join(common, name));

  let sandbox: SandboxProcess | undefined;
  let idp: AttestationIssuer | undefined;
  const http = new Map<string, Deno.HttpClient>();
  const closeHttp = () => {
    for (const client of http.values()) client.close();
    http.clear();
  };

  const close = async () => {
    for (const client of clients.splice(0)) client.close();
    closeHttp();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await idp?.stop();
    await sandbox?.stop();
    await Deno.remove(workspace, { recursive: true }).catch(() => {});
  };

  try {
    await buildBundle(dist);
    sandbox = await spawnSandbox(workspace, (text) => logs.push(text), setup);
    idp = await startAttestationIssuer({
      workspace,
      port: 0,
      log: (line) => logs.push(`[idp] ${line}\n`),
    });
    const tpm = await loadTpmKey(workspace);
    const serviceCertPem = pem("service_cert.pem");

    const newHttpClient = (caller: "anonymous" | "user" | "member"): Deno.HttpClient =>
      Deno.createHttpClient({
        caCerts: [serviceCertPem],
        ...(caller === "anonymous"
          ? {}
          : { cert: pem(`${caller}0_cert.pem`), key: pem(`${caller}0_privk.pem`) }),
      });
    const httpClient = (caller: "anonymous" | "user" | "member"): Deno.HttpClient => {
      let client = http.get(caller);
      if (!client) {
        client = newHttpClient(caller);
        http.set(caller, client);
      }
      return client;
    };

    const cliRun = async (argv: readonly string[], stdin = "") => {
      const lines: string[] = [];
      const code = await runKms(argv, {
        streams: { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) },
        env: { ...sandbox!.env, KMS_WORKSPACE: workspace },
        cwd: root,
        readStdin: () => Promise.resolve(stdin),
        clock: Date.now,
      });
      const output = lines.join("\n");
      logs.push(`[cli] ${output}\n`);
      return { code, output };
    };

    const call = async (
      method: "GET" | "POST",
      path: string,
      caller: Caller = "anonymous",
      via: Via = {},
    ): Promise<Reply> => {
      const token = typeof caller === "object" ? caller.token : undefined;
      const who = typeof caller === "object" ? "anonymous" : caller;
      const client = via.fresh ? newHttpClient(who) : httpClient(who);
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${via.url ?? sandbox!.url}${path}`, {
          method,
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
          client,
        });
        text = await response.text();
      } finally {
        if (via.fresh) client.close();
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: response.status, headers: response.headers, text, body };
    };

    const kms: Kms = {
      workspace,
      get url() {
        return sandbox!.url;
      },
      serviceCertPem,
      idp,
      tpm,
      cliRun,
      cli: async (argv, stdin) => {
        const run = await cliRun(argv, stdin);
        assert.equal(run.code, 0, `deno task kms ${argv.join(" ")}:\n${run.output}`);
        return run.output;
      },
      call,
      token: async (query = "") => {
        const response = await fetch(`${idp!.url}/token${query}`, { method: "POST" });
        const body = await response.json();
        assert.equal(response.status, 200, `the issuer refused ${query}: ${show(body)}`);
        const token: string = body.access_token;
        secrets.add(token);
        // The signature alone is unique to the token too; header and claims are not secret.
        secrets.add(token.split(".")[2]);
        return token;
      },
      releaseKey: async (token, query = "") => {
        const reply = await call("POST", `/app/key${query}`, { token });
        if (reply.status !== 200) return { reply };
        const { kid, key: wrapped, receipt } = reply.body;
        secrets.add(wrapped);
        const cbor = await tpm.unwrap(wrapped);
        const privateKey = decodePrivateKeyCbor(cbor);
        if (E.isLeft(privateKey)) assert.fail(`the released key: ${privateKey.left.message}`);
        for (const form of secretForms(privateKey.right.d)) secrets.add(form);
        for (const form of secretForms(cbor)) secrets.add(form);
        return { reply, key: { kid, wrapped, receipt, privateKey: privateKey.right } };
      },
      get nodeUrls() {
        return sandbox!.nodeUrls;
      },
      stopPrimary: () => sandbox!.stopPrimary(),
      client: (url) => {
        const client = createKmsClient({
          url: url ?? sandbox!.url,
          serviceCertPem,
          retryForSeconds: 60,
        });
        clients.push(client);
        return client;
      },
      secret: (value) => void secrets.add(value),
      log: (line) => void logs.push(`${line}\n`),
      restart: async () => {
        for (const client of clients.splice(0)) client.close();
        closeHttp();
        const code = await sandbox!.stop();
        assert.equal(code, 0, "the sandbox exits cleanly on SIGTERM");
        sandbox = await spawnSandbox(workspace, (text) => logs.push(text), setup);
      },
      assertLogsFreeOfSecrets: async () => {
        // The nodes' own log files hold every line of every run on this workspace.
        const out = (await Promise.all(
          [...Deno.readDirSync(workspace)]
            .filter((e) => e.isDirectory && /^sandbox_\d+$/.test(e.name))
            .map((e) =>
              Deno.readTextFile(join(workspace, e.name, "out")).catch((error) => {
                if (error instanceof Deno.errors.NotFound) return "";
                throw error;
              })
            ),
        )).join("\n");
        assert.ok(out.includes("app info:") || out.includes("app log:"), "the app logged");
        const everything = [out, ...logs].join("\n");
        assert.ok(secrets.size > 0, "the test saw secrets to look for");
        for (const secret of secrets) {
          assert.ok(secret.length >= 32, "only distinctive strings are looked for");
          const at = everything.indexOf(secret);
          assert.ok(
            at < 0,
            `a secret (${secret.slice(0, 8)}…) appears in a log: …${
              everything.slice(Math.max(0, at - 80), at)
            }`,
          );
        }
      },
      close,
    };

    await kms.cli(["deploy", "--dist", dist, "--vote-with", "0,1"]);
    await kms.cli(["constitution", "--add-kms-actions", "--dist", dist, "--vote-with", "0,1"]);
    if (setup.trustIssuer) {
      await kms.cli(["trust-issuer", "--demo", "--idp-url", idp.url, "--vote-with", "0,1"]);
    }
    if (setup.releasePolicy) {
      await kms.cli([
        "policy",
        "add",
        join(root, "governance/policies/key-release-policy-add.json"),
        "--vote-with",
        "0,1",
      ]);
    }
    if (setup.rotation) await setRotation(kms, setup.rotation.interval, setup.rotation.grace);
    return kms;
  } catch (e) {
    console.error(logs.join(""));
    await close();
    throw e;
  }
};

/** Sets the rotation policy through governance and checks that it is in force. */
export const setRotation = async (kms: Kms, interval: number, grace: number): Promise<void> => {
  const policy = { rotation_interval_seconds: interval, grace_period_seconds: grace };
  await kms.cli(
    ["rotation", "-", "--vote-with", "0,1"],
    JSON.stringify({ key_rotation_policy: policy }),
  );
  // On a network the connection may be a backup's, which sees the change once it is replicated.
  await poll(
    "the rotation policy in force",
    () => kms.call("GET", "/app/keyRotationPolicy"),
    (read) => read.status === 200 && isDeepStrictEqual(read.body.policy, policy),
  );
};

/** POST /app/refresh as member0, asserting a created key; answers its public record. */
export const refresh = async (kms: Kms, caller: Caller = "member", query = "") => {
  const reply = await kms.call("POST", `/app/refresh${query}`, caller);
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.body.created, true, reply.text);
  return reply.body as {
    created: true;
    id: number;
    index: number;
    keyId: number;
    publicKey: string;
    createdAt: number;
    notAfter: number;
    releaseUntil: number;
  };
};

/** GET /app/listpubkeys until it answers something other than 202. */
export const listWhenSigned = (kms: Kms, path = "/app/listpubkeys") =>
  poll(`${path} with receipts`, () => kms.call("GET", path), (r) => r.status !== 202);

/**
 * GET /app/listpubkeys until it lists as many keys as `keys`, the last of them last (the node fetches
 * receipts asynchronously, so the listing fills in), then asserts it lists exactly `keys`, in order.
 */
export const assertListed = async (
  kms: Kms,
  keys: readonly { readonly publicKey: string }[],
): Promise<Reply> => {
  const listed = await poll(
    `${keys.length} keys listed`,
    () => kms.call("GET", "/app/listpubkeys"),
    (r) =>
      r.status === 200 && r.body.length === keys.length &&
      r.body.at(-1)?.publicKey === keys.at(-1)?.publicKey,
  );
  assert.deepEqual(
    listed.body.map((e: { publicKey: string }) => e.publicKey),
    keys.map((k) => k.publicKey),
    "the listed keys, in creation order, newest last",
  );
  return listed;
};

/** Asserts a KMS error body: `{"error": {"code", "message"}}` with a non-empty message. */
export const assertError = (reply: Reply, status: number, code: string, message?: RegExp) => {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.body?.error?.code, code, reply.text);
  assert.equal(typeof reply.body.error.message, "string");
  assert.ok(reply.body.error.message.length > 0);
  if (message) assert.match(reply.body.error.message, message);
};

/** The transaction id a response carries (`x-ms-ccf-transaction-id`). */
export const txIdOf = (reply: Reply): string => {
  const id = reply.headers.get("x-ms-ccf-transaction-id");
  assert.ok(id && /^\d+\.\d+$/.test(id), `a transaction id header, not ${id}`);
  return id;
};

/** Whether the transaction is committed (covered by a signature), per CCF's `/node/tx`. */
export const isCommitted = async (kms: Kms, txId: string): Promise<boolean> => {
  const reply = await kms.call("GET", `/node/tx?transaction_id=${txId}`);
  assert.equal(reply.status, 200, reply.text);
  return reply.body.status === "Committed";
};

/** SHA-256 of the ASCII bytes of `text`, lowercase hex. */
export const sha256Hex = async (text: string): Promise<string> =>
  toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
