/**
 * Shared set-up of the sandbox node tests: the real KMS bundle (built once per test module), a
 * node on an ephemeral port in a temporary workspace, and HTTPS clients that trust the service
 * certificate and present member, user or arbitrary client certificates.
 */
import { join } from "node:path";
import { buildBundle } from "../../../../scripts/bundle.ts";
import type { AppBundle } from "../../../../ccf/sandbox/quickjs/mod.ts";
import {
  type RunningSandbox,
  type SandboxNodeOptions,
  startSandbox,
  writeAppBundle,
} from "../../../../ccf/sandbox/node/mod.ts";
import type { Identity } from "../../../../ccf/sandbox/node/workspace.ts";

let bundle: Promise<AppBundle> | undefined;

/** The KMS app bundle, as `deno task bundle` builds it. */
export const kmsBundle = (): Promise<AppBundle> =>
  bundle ??= (async () => {
    const out = await Deno.makeTempDir({ prefix: "kms-bundle-" });
    try {
      await buildBundle(out);
      return JSON.parse(await Deno.readTextFile(join(out, "bundle.json"))) as AppBundle;
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  })();

/** A temporary directory, removed by the returned function. */
export const tempWorkspace = async (): Promise<{ dir: string; remove: () => Promise<void> }> => {
  const dir = await Deno.makeTempDir({ prefix: "sandbox-node-" });
  return { dir, remove: () => Deno.remove(dir, { recursive: true }) };
};

/** Starts a node on an ephemeral port; signatures only when the test asks, unless overridden. */
export const startTestSandbox = (
  workspace: string,
  options: Partial<SandboxNodeOptions> = {},
): Promise<RunningSandbox> =>
  startSandbox({
    workspace,
    port: 0,
    members: 2,
    users: 1,
    signatureIntervalMs: 0,
    log: () => {},
    ...options,
  });

/** Deploys `app` as `set_js_app` would and waits until the node serves it. */
export const deploy = async (sandbox: RunningSandbox, app: AppBundle): Promise<void> => {
  sandbox.node.commitGovernance((tx) => writeAppBundle(tx, app));
  await sandbox.node.appReady();
};

/** Client credentials: a workspace identity, or any PEM certificate and key. */
export type ClientIdentity = Identity | { readonly certPem: string; readonly keyPem: string };

/** An HTTPS client trusting the service certificate, with an optional client certificate. */
export const httpClient = async (
  serviceCertPem: string,
  identity?: ClientIdentity,
): Promise<Deno.HttpClient> => {
  if (!identity) return Deno.createHttpClient({ caCerts: [serviceCertPem] });
  const key = "keyPem" in identity ? identity.keyPem : await Deno.readTextFile(identity.keyPath);
  return Deno.createHttpClient({ caCerts: [serviceCertPem], cert: identity.certPem, key });
};

/** A response read to the end. */
export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // deno-lint-ignore no-explicit-any
  readonly json: any;
}

/** Sends a request and reads the whole response. */
export const call = async (
  client: Deno.HttpClient,
  url: string,
  init: RequestInit = {},
): Promise<Reply> => {
  const response = await fetch(url, { ...init, client });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
};

/**
 * Sends a request until it is answered with something else than 202 (the node is still fetching
 * the historical state it needs, as a CCF node does on first use), at most `attempts` times.
 */
export const callUntilFetched = async (
  client: Deno.HttpClient,
  url: string,
  init: RequestInit = {},
  attempts = 200,
): Promise<Reply> => {
  for (let attempt = 1;; attempt++) {
    const reply = await call(client, url, init);
    if (reply.status !== 202 || attempt >= attempts) return reply;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** The seqno of a `<view>.<seqno>` transaction id. */
export const seqnoOf = (txId: string | null): number => Number(txId?.split(".")[1] ?? NaN);
