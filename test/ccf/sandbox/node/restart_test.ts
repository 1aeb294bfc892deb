import assert from "node:assert/strict";
import { join } from "node:path";
import { base64 } from "@scure/base";
import { SandboxNode, type SandboxNodeOptions } from "../../../../ccf/sandbox/node/node.ts";
import { writeAppBundle } from "../../../../ccf/sandbox/node/mod.ts";
import { LedgerIntegrityError } from "../../../../ccf/sandbox/ledger/ledger.ts";
import { LEDGER_FILE } from "../../../../ccf/sandbox/ledger/ledgerFile.ts";
import { workspacePaths } from "../../../../ccf/sandbox/node/workspace.ts";
import type { NodeRequest } from "../../../../ccf/sandbox/node/types.ts";
import type { AppBundle } from "../../../../ccf/sandbox/quickjs/mod.ts";
import { tempWorkspace } from "./_harness.ts";

const decoder = new TextDecoder();

/** A counter: each POST /bump writes the next value to `public:counter`. */
const counterApp: AppBundle = {
  metadata: {
    endpoints: {
      "/bump": {
        post: {
          js_module: "app.js",
          js_function: "bump",
          mode: "readwrite",
          forwarding_required: "never",
          authn_policies: [],
        },
      },
    },
  },
  modules: [{
    name: "app.js",
    module: `
export function bump() {
  const map = ccf.kv["public:counter"];
  const key = ccf.strToBuf("n");
  const v = map.get(key);
  const n = (v ? Number(ccf.bufToStr(v)) : 0) + 1;
  map.set(key, ccf.strToBuf(String(n)));
  return { body: { n } };
}`,
  }],
};

const get = (path: string, query = ""): NodeRequest => ({
  method: "GET",
  path,
  query,
  headers: {},
  body: new Uint8Array(),
});

const start = (dir: string, logged: string[], extra: Partial<SandboxNodeOptions> = {}) =>
  SandboxNode.start({
    workspace: dir,
    members: 1,
    users: 0,
    signatureIntervalMs: 0,
    log: (line) => logged.push(line),
    ...extra,
  });

const bump = async (node: SandboxNode): Promise<string> => {
  const r = await node.handle({ ...get("/app/bump"), method: "POST" });
  assert.equal(r.status, 200);
  return r.headers["x-ms-ccf-transaction-id"];
};

/** `/app/tx` and `/node/tx` must agree; returns their status. */
const statusOf = async (node: SandboxNode, txId: string): Promise<string> => {
  const [app, builtin] = await Promise.all(
    ["/app/tx", "/node/tx"].map((path) => node.handle(get(path, `transaction_id=${txId}`))),
  );
  const statuses = [app, builtin].map((r) => JSON.parse(decoder.decode(r.body)).status);
  assert.equal(statuses[0], statuses[1], `/app/tx and /node/tx disagree on ${txId}`);
  return statuses[0];
};

/** A node that signed some writes and crashed with others unsigned; returns their ids. */
const crashedNode = async (dir: string) => {
  const node = await start(dir, []);
  node.commitGovernance((tx) => writeAppBundle(tx, counterApp));
  await node.appReady();
  const signed = [await bump(node), await bump(node)];
  node.emitSignature();
  const lost = [await bump(node), await bump(node)];
  await node.kill();
  return { signed, lost };
};

Deno.test("node restart: a new view; ids lost with the unsigned tail read Invalid, never Committed", async () => {
  const ws = await tempWorkspace();
  try {
    const { signed, lost } = await crashedNode(ws.dir);
    const [oldView] = lost[0].split(".").map(Number);
    const logged: string[] = [];
    const node = await start(ws.dir, logged);
    try {
      assert.equal(node.recovery?.kind, "unsigned-tail");
      assert.equal(node.ledger.view, oldView + 1);
      assert.ok(logged.some((l) => l.startsWith(`view ${oldView + 1} opened at `)), `${logged}`);
      // The new view's first signature took the first lost seqno: the lost ids can never commit.
      for (const txId of lost) assert.equal(await statusOf(node, txId), "Invalid", txId);
      for (const txId of signed) assert.equal(await statusOf(node, txId), "Committed", txId);
      const next = await bump(node);
      assert.equal(next.split(".")[0], String(oldView + 1));
      assert.notEqual(next, lost[1]);
      node.emitSignature();
      assert.equal(await statusOf(node, next), "Committed");
      for (const txId of lost) assert.equal(await statusOf(node, txId), "Invalid", txId);
    } finally {
      await node.close();
    }
    // A clean stop and start begins a new view too.
    const again = await start(ws.dir, []);
    assert.equal(again.recovery, null);
    assert.equal(again.ledger.view, oldView + 2);
    await again.close();
  } finally {
    await ws.remove();
  }
});

Deno.test("node restart: a ledger altered in its signed part stops the start; the flag recovers", async () => {
  const ws = await tempWorkspace();
  try {
    const { signed } = await crashedNode(ws.dir);
    const signedSeqno = Number(signed[0].split(".")[1]);
    const file = join(workspacePaths(ws.dir).ledgerDir, LEDGER_FILE);
    // Rewrite the counter's first value, as someone with the files might.
    const lines = Deno.readTextFileSync(file).split("\n");
    const at = lines.findIndex((l) => l.startsWith(`{"seqno":${signedSeqno},`));
    const line = JSON.parse(lines[at]);
    line.public[0].value = base64.encode(new TextEncoder().encode("1000"));
    lines[at] = JSON.stringify(line);
    Deno.writeTextFileSync(file, lines.join("\n"));
    const altered = Deno.readFileSync(file);

    await assert.rejects(
      () => start(ws.dir, []),
      (e) => {
        assert.ok(e instanceof LedgerIntegrityError);
        assert.equal(e.seqno, signedSeqno + 2, "the signature over the altered write");
        return true;
      },
    );
    assert.deepEqual(Deno.readFileSync(file), altered, "the ledger is left as it was");

    const logged: string[] = [];
    const node = await start(ws.dir, logged, { recoverToLastGoodSignature: true });
    try {
      assert.equal(node.recovery?.kind, "recovered");
      assert.ok(node.recovery.lostCommitted >= 3);
      assert.ok(logged.some((l) => /committed transaction\(s\) were lost/.test(l)), `${logged}`);
      assert.equal(await statusOf(node, signed[0]), "Invalid");
    } finally {
      await node.close();
    }
  } finally {
    await ws.remove();
  }
});
