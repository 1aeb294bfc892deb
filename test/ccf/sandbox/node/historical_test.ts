/**
 * A `mode: "historical"` endpoint on a sandbox node: the state of the named transaction comes
 * from the node's historical cache (202 until fetched), with a KV as CCF gives it: the writes of
 * that transaction alone.
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
      "/mark": { post: ep("mark", "readwrite") },
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
  ccf.kv["private"].set(key, ccf.strToBuf("secret " + String(read(ccf.kv))));
  ccf.kv["public:mark"].delete(key);
  return { body: {} };
}
export function mark() {
  ccf.kv["public:mark"].set(key, ccf.strToBuf("marked"));
  ccf.kv["public:config"].set(key, ccf.strToBuf("set before"));
  return { body: {} };
}
export function at() {
  const s = ccf.historicalState;
  let write = "allowed";
  try { s.kv["public:counter"].delete(key); } catch (e) { write = e.constructor.name; }
  const p = s.kv["private"].get(key);
  return { body: {
    id: s.transactionId,
    then: read(s.kv),
    now: read(ccf.kv),
    write,
    private: p && ccf.bufToStr(p),
    version: s.kv["public:counter"].getVersionOfPreviousWrite(key),
    sizes: ["public:counter", "public:mark", "public:config"].map((m) => s.kv[m].size),
    config: s.kv["public:config"].get(key) === undefined ? "absent" : "present",
    marked: s.kv["public:mark"].has(key),
  } };
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

Deno.test("node: a historical endpoint reads the writes of the transaction it names", async () => {
  const ws = await tempWorkspace();
  const time = { now: Date.now() };
  const options = {
    workspace: ws.dir,
    members: 1,
    users: 0,
    signatureIntervalMs: 0,
    historicalFetchMs: 50,
    clock: () => time.now,
    log: () => {},
  };
  let node = await SandboxNode.start(options);
  try {
    node.commitGovernance((tx) => writeAppBundle(tx, app));
    await node.appReady();
    // 2.4 marks, 2.5 and 2.6 bump (and delete the mark); then the mark is set again.
    const post = (path: string) =>
      node.handle({ ...get(), method: "POST", path }).then((r) =>
        r.headers["x-ms-ccf-transaction-id"]
      );
    await post("/app/mark");
    const bumps = [await post("/app/bump"), await post("/app/bump")];
    await post("/app/mark");
    assert.equal((await node.handle(get())).status, 400);
    assert.equal((await node.handle(get(bumps[0]))).status, 404);
    node.emitSignature();
    const loading = await node.handle(get(bumps[0]));
    assert.equal(loading.status, 202);
    assert.equal(loading.headers["retry-after"], "3");
    time.now += 50;
    const done = await node.handle(get(bumps[0]));
    assert.equal(done.status, 200, new TextDecoder().decode(done.body));
    const expected = {
      id: bumps[0],
      then: 1,
      now: 2,
      write: "TypeError",
      private: "secret 1",
      version: Number(bumps[0].split(".")[1]),
      // Only what 2.5 wrote: the mark it deleted, and the config written before it, are absent.
      sizes: [1, 0, 0],
      config: "absent",
      marked: false,
    };
    assert.deepEqual(JSON.parse(new TextDecoder().decode(done.body)), expected);

    // After a restart the node reads the entry back from its ledger file.
    await node.close();
    node = await SandboxNode.start(options);
    await node.appReady();
    assert.equal((await node.handle(get(bumps[0]))).status, 202);
    time.now += 50;
    const again = await node.handle(get(bumps[0]));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(again.body)), expected);
  } finally {
    await node.close();
    await ws.remove();
  }
});
