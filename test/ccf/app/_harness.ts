/**
 * Runs the real KMS bundle (as `deno task bundle` builds it) in QuickJS through the sandbox's app
 * runtime, against an in-memory KV, with governance tables written directly as the constitution
 * actions would. Receipts come from a per-test hook: `null` (not signed yet) until `signAll()`.
 */
import { join } from "node:path";
import { buildBundle } from "../../../scripts/bundle.ts";
import {
  type AppBundle,
  type AppResponse,
  createAppRuntime,
  type HostValue,
  KvStore,
} from "@kms/sandbox";

/** The built artefacts, once per test process. */
export const artefacts = await (async () => {
  const out = await Deno.makeTempDir();
  await buildBundle(out);
  const bundle: AppBundle = JSON.parse(await Deno.readTextFile(join(out, "bundle.json")));
  const actions = await Deno.readTextFile(join(out, "constitution/kms_actions.js"));
  await Deno.remove(out, { recursive: true });
  return { bundle, actions };
})();

const text = new TextEncoder();

/** A decoded response. */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  // deno-lint-ignore no-explicit-any
  readonly json: any;
  readonly raw: AppResponse;
}

/** The options of a call made by a member (forcing a rotation is for members). */
export const asMember = { caller: { policy: "member_cert", id: "member0" } } as const;

/** Options of one call. */
export interface CallOptions {
  readonly query?: string;
  readonly caller?: unknown;
  readonly body?: Uint8Array;
  readonly headers?: Record<string, string>;
}

/** A KMS app in QuickJS with its KV; `call` commits writes like the node does. */
export const createKms = async () => {
  const store = new KvStore();
  const logs: string[] = [];
  const runtime = await createAppRuntime(artefacts.bundle, {
    logSink: (e) => logs.push(e.message),
  });
  let signAll = false;
  let signedUpTo = 0;
  const call = (method: string, path: string, options: CallOptions = {}): Reply => {
    const tx = store.begin();
    const raw = runtime.handle(
      {
        method,
        path,
        query: options.query ?? "",
        headers: options.headers ?? {},
        body: options.body,
        caller: (options.caller ?? null) as HostValue,
      },
      tx,
      {
        getStateRange: (_handle, from) =>
          signAll || from <= signedUpTo
            ? [{ transactionId: `2.${from}`, receipt: { seqno: from, signature: "sig" } }]
            : null,
      },
    );
    if (raw.applyWrites) store.commit(tx);
    const body = new TextDecoder().decode(raw.body);
    return {
      status: raw.status,
      headers: raw.headers,
      json: body === "" ? undefined : JSON.parse(body),
      raw,
    };
  };
  const govWrite = (map: string, key: string, value: unknown) => {
    const tx = store.begin();
    tx.set(map, text.encode(key), text.encode(JSON.stringify(value)));
    store.commit(tx);
  };
  return {
    store,
    logs,
    call,
    govWrite,
    /** From now on every receipt is available (a signature covers everything). */
    signEverything: () => {
      signAll = true;
    },
    /** A signature covers every transaction committed so far, and no later one. */
    signUpToNow: () => {
      signedUpTo = store.lastSeqno;
    },
    dispose: () => runtime.dispose(),
  };
};
