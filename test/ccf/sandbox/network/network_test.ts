import assert from "node:assert/strict";
import { join } from "node:path";
import { SandboxNetwork } from "../../../../ccf/sandbox/network/network.ts";
import { nodesEndorsedCertificates } from "../../../../ccf/sandbox/govTables.ts";
import { isEndorsedBy } from "../../../../ccf/sandbox/node/certificates.ts";
import { writeAppBundle } from "../../../../ccf/sandbox/node/appTables.ts";
import { startSandbox } from "../../../../ccf/sandbox/node/server.ts";
import { workspacePaths } from "../../../../ccf/sandbox/node/workspace.ts";
import { LedgerIntegrityError } from "../../../../ccf/sandbox/ledger/ledger.ts";
import { LEDGER_FILE } from "../../../../ccf/sandbox/ledger/ledgerFile.ts";
import type { SandboxNode } from "../../../../ccf/sandbox/node/node.ts";
import type { NodeRequest, NodeSession } from "../../../../ccf/sandbox/node/types.ts";
import type { AppBundle, EndpointProperties } from "../../../../ccf/sandbox/quickjs/mod.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

const ep = (
  js_function: string,
  mode: "readwrite" | "readonly",
  forwarding_required: "always" | "sometimes" | "never",
): EndpointProperties => ({
  js_module: "app.js",
  js_function,
  mode,
  forwarding_required,
  authn_policies: [],
});

/** A counter, written through endpoints of each forwarding kind. */
const counterApp: AppBundle = {
  metadata: {
    endpoints: {
      "/bump": { post: ep("bump", "readwrite", "always") },
      "/bumpHere": { post: ep("bump", "readwrite", "never") },
      "/count": { get: ep("count", "readonly", "sometimes") },
      "/committed": { get: ep("committed", "readonly", "never") },
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
  return { body: { n } };
}
export function count() { return { body: { n: read() } }; }
export function committed() { return { body: ccf.consensus.getLastCommittedTxId() }; }
`,
  }],
};

const request = (method: string, path: string, session?: NodeSession): NodeRequest => ({
  method,
  path,
  query: "",
  headers: {},
  body: new Uint8Array(),
  session,
});

const json = (body: Uint8Array) => JSON.parse(decoder.decode(body));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done` holds, checking every 10 ms, at most `ms`. */
const until = async (what: string, done: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) assert.fail(`${what}: not after ${ms} ms`);
    await sleep(10);
  }
};

const startNetwork = async (
  workspace: string,
  nodes = 3,
  more: { recoverToLastGoodSignature?: boolean } = {},
) =>
  await SandboxNetwork.start({
    workspace,
    nodes,
    port: 0,
    members: 1,
    users: 0,
    signatureIntervalMs: 0,
    replicationDelayMs: 30,
    historicalFetchMs: 0,
    jwtKeyRefreshIntervalS: 0,
    log: () => {},
    ...more,
  });

const backupsOf = (network: SandboxNetwork): SandboxNode[] =>
  network.nodes.filter((n) => n.running && !n.primary).map((n) => network.node(n.index)!);

/** Waits until every running node holds the primary's whole ledger and has committed it. */
const settled = (network: SandboxNetwork) =>
  until("the backups catch up", () => {
    const primary = network.primary!;
    return backupsOf(network).every((b) =>
      b.ledger.size === primary.ledger.size &&
      b.ledger.lastSignedSeqno === primary.ledger.lastSignedSeqno
    ) && primary.ledger.lastSignedSeqno === primary.ledger.lastSignatureSeqno;
  });

const withNetwork = async (fn: (network: SandboxNetwork, dir: string) => Promise<void>) => {
  const dir = await Deno.makeTempDir({ prefix: "sandbox-network-" });
  let network: SandboxNetwork | undefined;
  try {
    network = await startNetwork(dir);
    network.primary!.commitGovernance((tx) => writeAppBundle(tx, counterApp));
    await network.primary!.appReady();
    network.primary!.emitSignature();
    await settled(network);
    for (const backup of backupsOf(network)) await backup.appReady();
    await fn(network, dir);
  } finally {
    await network?.stop();
    await Deno.remove(dir, { recursive: true });
  }
};

Deno.test("network: three nodes, their certificates endorsed and recorded, one primary", async () => {
  await withNetwork(async (network) => {
    const primary = network.primary!;
    assert.equal(network.nodes.length, 3);
    assert.equal(network.nodes.filter((n) => n.primary).length, 1);
    const tx = primary.readTransaction();
    for (const node of network.nodes) {
      const pem = tx.get(nodesEndorsedCertificates, encoder.encode(node.id));
      assert.ok(pem, `node ${node.index} is recorded`);
      assert.ok(await isEndorsedBy(decoder.decode(pem), primary.serviceCertPem));
      assert.notEqual(node.url, network.url);
    }
    const listed = json(
      (await backupsOf(network)[0].handle(request("GET", "/node/network/nodes")))
        .body,
    );
    assert.deepEqual(
      listed.nodes.map((n: { node_id: string; primary: boolean }) => [n.node_id, n.primary]),
      network.nodes.map((n) => [n.id, n.primary]),
    );
    assert.equal(listed.nodes[0].status, "Trusted");
    const info = json((await backupsOf(network)[1].handle(request("GET", "/node/network"))).body);
    assert.equal(info.primary_id, network.nodes.find((n) => n.primary)!.id);
    assert.equal(info.current_view, network.view);
  });
});

Deno.test("network: a backup reads the primary's writes one replication later", async () => {
  await withNetwork(async (network) => {
    const primary = network.primary!;
    const [backup] = backupsOf(network);
    const bumped = await primary.handle(request("POST", "/bump"));
    assert.deepEqual(json(bumped.body), { n: 1 });
    // Nothing awaited a timer since: the backup has not received it.
    assert.deepEqual(json((await backup.handle(request("GET", "/count"))).body), { n: 0 });
    await until("replicated", () => backup.ledger.size === primary.ledger.size);
    assert.deepEqual(json((await backup.handle(request("GET", "/count"))).body), { n: 1 });
  });
});

Deno.test("network: a signature commits once a majority holds it", async () => {
  await withNetwork(async (network) => {
    const primary = network.primary!;
    const bumped = await primary.handle(request("POST", "/bump"));
    const seqno = Number(bumped.headers["x-ms-ccf-transaction-id"].split(".")[1]);
    primary.emitSignature();
    assert.equal(primary.ledger.txStatus(seqno), "Pending", "signed, not yet replicated");
    assert.equal(primary.ledger.receiptFor(seqno), null);
    await until("committed", () => primary.ledger.txStatus(seqno) === "Committed");
    const [backup] = backupsOf(network);
    await until("the backup learns it", () => backup.ledger.txStatus(seqno) === "Committed");
    assert.deepEqual(backup.ledger.receiptFor(seqno), primary.ledger.receiptFor(seqno));
  });
});

Deno.test("network: backups forward what CCF forwards and refuse other writes", async () => {
  await withNetwork(async (network) => {
    const [backup] = backupsOf(network);
    const session: NodeSession = { forwarding: false };
    const refused = await backup.handle(request("POST", "/bumpHere", session));
    assert.equal(refused.status, 503);
    assert.equal(json(refused.body).error.code, "TransactionReplicationFailed");
    assert.equal(session.forwarding, false);
    const forwarded = await backup.handle(request("POST", "/bump", session));
    assert.deepEqual(json(forwarded.body), { n: 1 }, "executed by the primary");
    assert.equal(session.forwarding, true);
    // The session was forwarded: its reads follow to the primary and see its write at once.
    assert.deepEqual(json((await backup.handle(request("GET", "/count", session))).body), {
      n: 1,
    });
    // Another session still reads the backup, which has not received the write yet.
    const other = { forwarding: false };
    assert.deepEqual(json((await backup.handle(request("GET", "/count", other))).body), { n: 0 });
    // Governance writes are forwarded, governance reads are local.
    const gov = await backup.handle(request("POST", "/gov/members/proposals:create", other));
    assert.equal(gov.status, 404, "reached the primary, which has no governance installed");
    assert.equal(other.forwarding, true);
  });
});

Deno.test("network: the front spreads connections over the running nodes", async () => {
  await withNetwork(async (network) => {
    const serviceCertPem = network.primary!.serviceCertPem;
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const client = Deno.createHttpClient({ caCerts: [serviceCertPem] });
      try {
        const response = await fetch(`${network.url}/node/state`, { client });
        seen.add((await response.json()).node_id);
      } finally {
        client.close();
      }
    }
    assert.deepEqual([...seen].sort(), network.nodes.map((n) => n.id).sort());
  });
});

Deno.test("network: a failover keeps every committed transaction; lost ones read Invalid", async () => {
  await withNetwork(async (network, dir) => {
    const oldPrimary = network.primary!;
    const oldView = network.view;
    const committed: { seqno: number; receipt: unknown }[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await oldPrimary.handle(request("POST", "/bump"));
      committed.push({
        seqno: Number(r.headers["x-ms-ccf-transaction-id"].split(".")[1]),
        receipt: null,
      });
    }
    oldPrimary.emitSignature();
    await until("committed", () => oldPrimary.ledger.txStatus(committed[2].seqno) === "Committed");
    for (const c of committed) c.receipt = oldPrimary.ledger.receiptFor(c.seqno);
    // Written and signed on the primary, never replicated: the crash loses it.
    const lost = await oldPrimary.handle(request("POST", "/bump"));
    const lostId = lost.headers["x-ms-ccf-transaction-id"];
    oldPrimary.emitSignature();
    const before = network.nodes.find((n) => n.primary)!.index;

    const elected = await network.stopPrimary();
    assert.notEqual(elected, null);
    assert.notEqual(elected, before);
    assert.equal(network.view, oldView + 1);
    const primary = network.primary!;
    assert.equal(network.nodes[before].running, false);
    // The new view's signature is not acknowledged yet: the last committed id is of the old view.
    const last = json((await primary.handle(request("GET", "/committed"))).body);
    assert.equal(last.view, primary.ledger.viewOf(last.seqno));
    assert.equal(last.view, oldView);
    await settled(network);
    for (const c of committed) {
      assert.equal(primary.ledger.txStatus(c.seqno, oldView), "Committed");
      assert.deepEqual(primary.ledger.receiptFor(c.seqno), c.receipt);
    }
    const [view, seqno] = lostId.split(".").map(Number);
    assert.equal(primary.ledger.txStatus(seqno, view), "Invalid", `${lostId} was lost`);
    assert.deepEqual(json((await primary.handle(request("GET", "/count"))).body), { n: 3 });
    const next = await primary.handle(request("POST", "/bump"));
    assert.match(next.headers["x-ms-ccf-transaction-id"], new RegExp(`^${oldView + 1}\\.`));

    // The stopped node joins again as a backup and catches up.
    await network.restartNode(before);
    primary.emitSignature();
    await settled(network);
    const rejoined = network.node(before)!;
    await rejoined.appReady();
    assert.deepEqual(json((await rejoined.handle(request("GET", "/count"))).body), { n: 4 });

    // A restart of the whole network continues on the last primary's ledger.
    await network.stop();
    const again = await startNetwork(dir);
    try {
      assert.equal(again.nodes.find((n) => n.primary)!.index, elected);
      await again.primary!.appReady();
      assert.deepEqual(json((await again.primary!.handle(request("GET", "/count"))).body), {
        n: 4,
      });
      await settled(again);
      assert.equal(
        again.node(before)!.ledger.merkleRoot().join(),
        again.primary!.ledger.merkleRoot().join(),
      );
    } finally {
      await again.stop();
    }
    assert.ok(await Deno.stat(join(dir, "sandbox_common", "network.json")));
    // Without the last primary, the service would continue from an older ledger: refused.
    await assert.rejects(() => startNetwork(dir, elected!), /Node \d was the primary/);
    await assert.rejects(
      () => startSandbox({ workspace: dir, port: 0, members: 1, users: 0, log: () => {} }),
      new RegExp(`Node ${elected} was the primary.*--nodes ${elected! + 1}`),
    );
  });
});

Deno.test("network: a restart begins a new view; a damaged ledger of the last primary stops it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sandbox-network-" });
  try {
    let network = await startNetwork(dir, 2);
    const firstView = network.view;
    network.primary!.commitGovernance((tx) => writeAppBundle(tx, counterApp));
    network.primary!.emitSignature();
    await settled(network);
    await network.stop();

    network = await startNetwork(dir, 2);
    assert.equal(network.view, firstView + 1);
    await network.stop();

    // Alter the deployed module in the primary's ledger (node 0): the signature after it no
    // longer verifies.
    const file = join(workspacePaths(dir, 0).ledgerDir, LEDGER_FILE);
    const lines = (await Deno.readTextFile(file)).split("\n");
    const at = lines.findIndex((l) => l.includes('"map":"public:ccf.gov.modules"'));
    const line = JSON.parse(lines[at]);
    const write = line.public.find((w: { map: string }) => w.map === "public:ccf.gov.modules");
    write.value = btoa("export function bump() { return { body: 'forged' }; }");
    lines[at] = JSON.stringify(line);
    await Deno.writeTextFile(file, lines.join("\n"));
    await assert.rejects(() => startNetwork(dir, 2), LedgerIntegrityError);

    network = await startNetwork(dir, 2, { recoverToLastGoodSignature: true });
    assert.equal(network.primary!.recovery?.kind, "recovered");
    await network.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
