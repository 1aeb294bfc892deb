import assert from "node:assert/strict";
import { SandboxNode } from "../../../../ccf/sandbox/node/node.ts";
import { PLACEHOLDER_CONSTITUTION, writeAppBundle } from "../../../../ccf/sandbox/node/mod.ts";
import { constitution, serviceInfo, singletonKey } from "../../../../ccf/sandbox/govTables.ts";
import type { AppBundle, EndpointProperties } from "../../../../ccf/sandbox/quickjs/mod.ts";
import type { NodeRequest } from "../../../../ccf/sandbox/node/types.ts";
import { tempWorkspace } from "./_harness.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

const ep = (js_function: string, mode: "readwrite" | "readonly"): EndpointProperties => ({
  js_module: "app.js",
  js_function,
  mode,
  forwarding_required: "never",
  authn_policies: [],
});

/** A small app: a counter (write), a failing write, and views of the node's hooks. */
const counterApp = (label: string): AppBundle => ({
  metadata: {
    endpoints: {
      "/bump": { post: ep("bump", "readwrite") },
      "/fail": { post: ep("fail", "readwrite") },
      "/count": { get: ep("count", "readonly") },
      "/proof/{seqno}": { get: ep("proof", "readonly") },
      "/label": { get: ep("label", "readonly") },
    },
  },
  modules: [{
    name: "app.js",
    module: `
const map = () => ccf.kv["public:counter"];
const key = ccf.strToBuf("n");
const read = () => { const v = map().get(key); return v ? Number(ccf.bufToStr(v)) : 0; };
export function bump() {
  const n = read() + 1;
  map().set(key, ccf.strToBuf(String(n)));
  ccf.rpc.setClaimsDigest(ccf.crypto.digest("SHA-256", ccf.strToBuf("claim " + n)));
  return { body: { n } };
}
export function fail() {
  map().set(key, ccf.strToBuf("999"));
  return { statusCode: 400, body: { refused: true } };
}
export function count() { return { body: { n: read() } }; }
export function proof(request) {
  const seqno = Number(request.params.seqno);
  const states = ccf.historical.getStateRange(seqno, seqno, seqno, 60);
  const committed = ccf.consensus.getLastCommittedTxId();
  const status = ccf.consensus.getStatusForTxId(2, seqno);
  if (states === null) return { statusCode: 202, body: { status, committed } };
  return { body: { status, committed, id: states[0].transactionId, receipt: states[0].receipt } };
}
export function label() { return { body: "${label}" }; }
`,
  }],
});

const request = (method: string, path: string): NodeRequest => ({
  method,
  path,
  query: "",
  headers: {},
  body: new Uint8Array(),
});

const json = (body: Uint8Array) => JSON.parse(decoder.decode(body));

Deno.test("node: one transaction per request, claims digests, hooks, redeploys", async () => {
  const ws = await tempWorkspace();
  const seen: string[] = [];
  const time = { now: Date.now() };
  const node = await SandboxNode.start({
    workspace: ws.dir,
    members: 1,
    users: 0,
    signatureIntervalMs: 0,
    historicalFetchMs: 50,
    clock: () => time.now,
    log: () => {},
    genesisWrites: (tx, info) => {
      seen.push(info.txId);
      tx.set("public:ccf.gov.test", encoder.encode("k"), encoder.encode(info.members[0].id));
    },
  });
  try {
    // Genesis (with the hook's write) and its signature.
    assert.deepEqual(seen, ["2.1"]);
    assert.equal(node.ledger.lastSignedSeqno, 2);
    assert.equal(
      decoder.decode(node.read("public:ccf.gov.test", "k")),
      node.workspace.members[0].id,
    );
    assert.equal(
      JSON.parse(decoder.decode(node.read(constitution, singletonKey))),
      PLACEHOLDER_CONSTITUTION,
    );
    assert.equal(JSON.parse(decoder.decode(node.read(serviceInfo, singletonKey))).status, "Open");

    const before = await node.handle(request("GET", "/app/count"));
    assert.equal(before.status, 404);
    const deployed = node.commitGovernance((tx) => writeAppBundle(tx, counterApp("v1")));
    await node.appReady();
    assert.equal(deployed?.txId, "2.3");

    const bump = await node.handle(request("POST", "/app/bump"));
    assert.deepEqual(json(bump.body), { n: 1 });
    assert.equal(bump.headers["x-ms-ccf-transaction-id"], "2.4");
    // A 4xx discards the handler's writes; reads report the last applied transaction.
    const failed = await node.handle(request("POST", "/fail"));
    assert.equal(failed.status, 400);
    assert.equal(failed.headers["x-ms-ccf-transaction-id"], "2.4");
    const count = await node.handle(request("GET", "/count"));
    assert.deepEqual(json(count.body), { n: 1 });
    assert.equal(node.ledger.size, 4);

    const pending = await node.handle(request("GET", "/proof/4"));
    assert.equal(pending.status, 202);
    assert.deepEqual(json(pending.body), {
      status: "Pending",
      committed: { view: 2, seqno: 2 },
    });
    node.emitSignature();
    // The node fetched 2.4 when first asked; it answers once the fetch is done and signed.
    assert.equal((await node.handle(request("GET", "/proof/4"))).status, 202);
    time.now += 50;
    const proven = await node.handle(request("GET", "/proof/4"));
    const body = json(proven.body);
    assert.equal(body.status, "Committed");
    assert.equal(body.id, "2.4");
    assert.equal(body.receipt.is_signature_transaction, false);
    const claim = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode("claim 1")));
    assert.equal(
      body.receipt.leaf_components.claims_digest,
      [...claim].map((b) => b.toString(16).padStart(2, "0")).join(""),
    );

    node.commitGovernance((tx) => writeAppBundle(tx, counterApp("v2")));
    await node.appReady();
    assert.equal(decoder.decode((await node.handle(request("GET", "/label"))).body), "v2");

    // An app CCF would refuse is not loaded; the node keeps serving its built-ins.
    node.commitGovernance((tx) => {
      tx.set("public:ccf.gov.modules", encoder.encode("/app.js"), encoder.encode("x"));
      tx.set(
        "public:ccf.gov.endpoints",
        encoder.encode("GET /broken"),
        encoder.encode(JSON.stringify({ js_module: "/missing.js", js_function: "f" })),
      );
    });
    await node.appReady();
    assert.equal((await node.handle(request("GET", "/label"))).status, 404);
    assert.equal((await node.handle(request("GET", "/node/network"))).status, 200);

    // App tables that do not even parse (a constitution may write anything there): the app is
    // not loaded, the node keeps serving, and a later deployment is loaded again.
    for (const map of ["public:ccf.gov.endpoints", "public:ccf.gov.js_runtime_options"]) {
      node.commitGovernance((tx) => {
        writeAppBundle(tx, counterApp("v3"));
        tx.set(
          map,
          map.endsWith("options") ? singletonKey : encoder.encode("GET /x"),
          encoder.encode("{"),
        );
      });
      await node.appReady();
      assert.equal((await node.handle(request("GET", "/label"))).status, 404);
      assert.equal((await node.handle(request("GET", "/node/network"))).status, 200);
      node.commitGovernance((tx) => {
        tx.delete("public:ccf.gov.js_runtime_options", singletonKey);
        writeAppBundle(tx, counterApp("v4"));
      });
      await node.appReady();
      assert.equal(decoder.decode((await node.handle(request("GET", "/label"))).body), "v4");
    }
  } finally {
    await node.close();
    await ws.remove();
  }
  assert.throws(() => node.commitGovernance(() => {}), /closed/);
});
