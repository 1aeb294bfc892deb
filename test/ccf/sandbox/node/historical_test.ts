/**
 * A `mode: "historical"` endpoint on a sandbox node: the state of the named transaction comes
 * from the node's historical cache (202 until fetched), with the KV as it stood then.
 */
import assert from "node:assert/strict";
import { SandboxNode } from "../../../../ccf/sandbox/node/node.ts";
import { writeAppBundle } from "../../../../ccf/sandbox/node/mod.ts";
import type { EndpointProperties } from "../../../../ccf/sandbox/quickjs/mod.ts";
import type { NodeRequest } from "../../../../ccf/sandbox/node/types.ts";
import { tempWorkspace } from "./_harness.ts";

const ep = (js_function: string, mode: EndpointProperties["mode"]): EndpointProperties => ({
  js_module: "app.js",
  js_function,
  mode,
  authn_policies: [],
});

const app = {
  metadata: {
    endpoints: {
      "/bump": { post: ep("bump", "readwrite") },
      "/at": { get: ep("at", "historical") },
    },
  },
  modules: [{
    name: "app.js",
    module: `
const key = ccf.strToBuf("n");
const read = (kv) => { const v = kv["public:counter"].get(key); return v ? Number(ccf.bufToStr(v)) : 0; };
export function bump() {
  ccf.kv["public:counter"].set(key, ccf.strToBuf(String(read(ccf.kv) + 1)));
  return { body: {} };
}
export function at() {
  const s = ccf.historicalState;
  let write = "allowed";
  try { s.kv["public:counter"].delete(key); } catch (e) { write = e.constructor.name; }
  return { body: { id: s.transactionId, then: read(s.kv), now: read(ccf.kv), write } };
}`,
  }],
};

const get = (txId?: string): NodeRequest => ({
  method: "GET",
  path: "/app/at",
  query: "",
  headers: txId === undefined ? {} : { "x-ms-ccf-transaction-id": txId },
  body: new Uint8Array(),
});

Deno.test("node: a historical endpoint reads the KV as of the transaction it names", async () => {
  const ws = await tempWorkspace();
  const time = { now: Date.now() };
  const node = await SandboxNode.start({
    workspace: ws.dir,
    members: 1,
    users: 0,
    signatureIntervalMs: 0,
    historicalFetchMs: 50,
    clock: () => time.now,
    log: () => {},
  });
  try {
    node.commitGovernance((tx) => writeAppBundle(tx, app));
    await node.appReady();
    const bumps = [];
    for (let i = 0; i < 2; i++) {
      const r = await node.handle({ ...get(), method: "POST", path: "/app/bump" });
      bumps.push(r.headers["x-ms-ccf-transaction-id"]);
    }
    assert.equal((await node.handle(get())).status, 400);
    assert.equal((await node.handle(get(bumps[0]))).status, 404);
    node.emitSignature();
    const loading = await node.handle(get(bumps[0]));
    assert.equal(loading.status, 202);
    assert.equal(loading.headers["retry-after"], "3");
    time.now += 50;
    const done = await node.handle(get(bumps[0]));
    assert.equal(done.status, 200, new TextDecoder().decode(done.body));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(done.body)), {
      id: bumps[0],
      then: 1,
      now: 2,
      write: "TypeError",
    });
  } finally {
    await node.close();
    await ws.remove();
  }
});
