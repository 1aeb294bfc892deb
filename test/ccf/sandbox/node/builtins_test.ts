import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, createPublicKey } from "node:crypto";
import { SandboxNode } from "../../../../ccf/sandbox/node/node.ts";
import type { NodeRequest } from "../../../../ccf/sandbox/node/types.ts";
import { tempWorkspace } from "./_harness.ts";

const get = (path: string, method = "GET"): NodeRequest => ({
  method,
  path,
  query: "",
  headers: {},
  body: new Uint8Array(),
});

const json = (body: Uint8Array) => JSON.parse(new TextDecoder().decode(body));

const withNode = async (fn: (node: SandboxNode) => Promise<void>) => {
  const ws = await tempWorkspace();
  const node = await SandboxNode.start({
    workspace: ws.dir,
    members: 1,
    users: 0,
    signatureIntervalMs: 0,
    log: () => {},
  });
  try {
    await fn(node);
  } finally {
    await node.close();
    await ws.remove();
  }
};

Deno.test("node endpoints: /node/version answers CCF 6's fields", async () => {
  await withNode(async (node) => {
    const r = await node.handle(get("/node/version"));
    assert.equal(r.status, 200);
    const body = json(r.body);
    assert.deepEqual(Object.keys(body).sort(), ["ccf_version", "quickjs_version", "unsafe"]);
    assert.match(body.ccf_version, /^ccf-6\.\d+\.\d+$/);
    assert.match(body.quickjs_version, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(body.unsafe, false);
    const post = await node.handle(get("/node/version", "POST"));
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET");
  });
});

Deno.test("node endpoints: /node/state is this node, part of the network, with its last signature", async () => {
  await withNode(async (node) => {
    const before = json((await node.handle(get("/node/state"))).body);
    assert.deepEqual(before, {
      last_signed_seqno: node.ledger.lastSignedSeqno,
      node_id: node.workspace.nodeId,
      startup_seqno: 0,
      state: "PartOfNetwork",
    });
    node.commitGovernance((tx) =>
      tx.set("public:ccf.gov.test", new Uint8Array([1]), new Uint8Array([2]))
    );
    const unsigned = json((await node.handle(get("/node/state"))).body);
    assert.equal(unsigned.last_signed_seqno, before.last_signed_seqno);
    const signature = node.emitSignature();
    assert.ok(signature);
    const after = json((await node.handle(get("/node/state"))).body);
    assert.equal(after.last_signed_seqno, Number(signature.txId.split(".")[1]));
    assert.ok(after.last_signed_seqno > before.last_signed_seqno);
  });
});

Deno.test("node endpoints: /node/quotes/self is a virtual node's attestation of its own key", async () => {
  await withNode(async (node) => {
    const r = await node.handle(get("/node/quotes/self"));
    assert.equal(r.status, 200);
    const quote = json(r.body);
    const measurement = "Insecure hard-coded virtual measurement v1";
    assert.deepEqual(Object.keys(quote).sort(), [
      "endorsements",
      "format",
      "measurement",
      "node_id",
      "raw",
    ]);
    assert.equal(quote.format, "Insecure_Virtual");
    assert.equal(quote.node_id, node.workspace.nodeId);
    assert.equal(quote.endorsements, "");
    assert.equal(Buffer.from(quote.measurement, "hex").toString(), measurement);

    const raw = JSON.parse(Buffer.from(quote.raw, "base64").toString());
    assert.deepEqual(Object.keys(raw), ["host_data", "measurement", "report_data"]);
    assert.equal(raw.measurement, measurement);
    assert.match(raw.host_data, /^[0-9a-f]{64}$/);
    // The report data binds the quote to the node's key: SHA-256 of its public key's DER.
    const spki = createPublicKey(node.workspace.nodeCertPem).export({
      type: "spki",
      format: "der",
    });
    assert.equal(
      Buffer.from(raw.report_data, "base64").toString("hex"),
      createHash("sha256").update(spki).digest("hex"),
    );
  });
});
