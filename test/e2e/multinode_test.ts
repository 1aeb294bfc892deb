/**
 * The KMS on a three-node sandbox network, through its one address as a production client sees
 * a CCF service: requests spread over the nodes, writes forwarded to the primary, backups that lag
 * behind it, receipts each node fetches on its own, and a primary that dies.
 *
 * One network for the whole file: the steps run in order and build on each other.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import type { KmsClient } from "../../client/kms/client.ts";
import {
  type Kms,
  poll,
  refresh,
  type Reply,
  secretForms,
  setRotation,
  sleep,
  startKms,
  txIdOf,
} from "./_harness.ts";

interface NodeView {
  readonly node_id: string;
  readonly primary: boolean;
  readonly status: string;
  readonly rpc_interfaces: {
    readonly primary_rpc_interface: { readonly published_address: string };
  };
}

/** The network as `/node/network/nodes` lists it through the front. */
const listNodes = async (kms: Kms): Promise<NodeView[]> => {
  const reply = await kms.call("GET", "/node/network/nodes", "anonymous", { fresh: true });
  assert.equal(reply.status, 200, reply.text);
  return reply.body.nodes;
};

/** The URL of the node that is primary now, and those of the running backups. */
const roles = async (kms: Kms) => {
  const nodes = await listNodes(kms);
  const urlOf = (n: NodeView) =>
    `https://${n.rpc_interfaces.primary_rpc_interface.published_address}`;
  const running = new Set(kms.nodeUrls);
  const primary = nodes.find((n) => n.primary);
  assert.ok(primary, "the network has a primary");
  return {
    primary: urlOf(primary),
    backups: nodes.filter((n) => !n.primary).map(urlOf).filter((u) => running.has(u)),
  };
};

/** Releases through `client`; the released key's secret forms are remembered for the log check. */
const release = async (kms: Kms, client: KmsClient, kid?: number) => {
  const released = await client.releaseKey({
    token: await kms.token(),
    unwrap: kms.tpm.unwrap,
    kid,
  });
  if (E.isLeft(released)) assert.fail(`release: ${released.left._tag}: ${released.left.message}`);
  for (const form of secretForms(released.right.privateKey.d)) kms.secret(form);
  return released.right;
};

/** Waits until `url`'s node reports `txId` committed. */
const committedOn = (kms: Kms, url: string, txId: string) =>
  poll(
    `${txId} committed on ${url}`,
    () => kms.call("GET", `/node/tx?transaction_id=${txId}`, "anonymous", { url, fresh: true }),
    (r) => r.body?.status === "Committed",
  );

const seqnoOf = (txId: string) => Number(txId.split(".")[1]);

/**
 * `/app/receipt` of a committed transaction, asked again while the answering node fetches it
 * (202) or has not learnt yet that it is committed (404 pending): nodes lag one another.
 */
const receiptOf = (kms: Kms, txId: string) =>
  poll(
    `the receipt of ${txId}`,
    () => kms.call("GET", `/app/receipt?transaction_id=${txId}`, "anonymous", { fresh: true }),
    (r) => r.status === 200,
  );

Deno.test("e2e: the KMS on a three-node network, through its front", async (t) => {
  const kms = await startKms({
    nodes: 3,
    signatureIntervalMs: 200,
    trustIssuer: true,
    releasePolicy: true,
    rotation: { interval: 86_400, grace: 86_400 },
  });
  try {
    await t.step("three trusted nodes behind one address, one primary", async () => {
      assert.equal(kms.nodeUrls.length, 3);
      const nodes = await listNodes(kms);
      assert.equal(nodes.length, 3);
      assert.equal(nodes.filter((n) => n.primary).length, 1);
      assert.ok(nodes.every((n) => n.status === "Trusted"));
      // Each address answers as its own node; the front reaches them all.
      const ids = new Set<string>();
      for (const url of kms.nodeUrls) {
        const state = await kms.call("GET", "/node/state", "anonymous", { url, fresh: true });
        ids.add(state.body.node_id);
      }
      assert.deepEqual([...ids].sort(), nodes.map((n) => n.node_id).sort());
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        seen.add((await kms.call("GET", "/node/state", "anonymous", { fresh: true })).body.node_id);
      }
      assert.equal(seen.size, 3, "new connections are spread over every node");
    });

    await t.step("governance, rotation, listing and release through the front", async () => {
      await setRotation(kms, 86_400, 3_600);
      const created = await refresh(kms);
      const client = kms.client();
      const listed = await poll(
        "the new key listed",
        () => client.listKeys(),
        (r) => E.isRight(r) && r.right.some((k) => k.publicKey === created.publicKey),
      );
      assert.ok(E.isRight(listed));
      const released = await release(kms, client);
      assert.equal(released.keyId, created.keyId);
    });

    await t.step("a release while the listing node's historical cache is cold", async () => {
      const { backups } = await roles(kms);
      const reply = await kms.call("POST", "/app/refresh", "member", { fresh: true });
      assert.equal(reply.status, 200, reply.text);
      const created: { keyId: number; publicKey: string } = reply.body;
      const keyTx = txIdOf(reply);
      for (const url of kms.nodeUrls) await committedOn(kms, url, keyTx);
      const [cold] = backups;
      // No one asked this node for the key's receipt: its first listing cannot have it.
      const first = await kms.call("GET", "/app/listpubkeys", "anonymous", {
        url: cold,
        fresh: true,
      });
      const listsIt = (r: Reply) =>
        r.status === 200 &&
        r.body.some((k: { publicKey: string }) => k.publicKey === created.publicKey);
      assert.ok(!listsIt(first), `a cold node listed the key at once: ${first.text.slice(0, 200)}`);
      const client = kms.client(cold);
      const released = await release(kms, client, created.keyId);
      assert.equal(released.publicKey, created.publicKey);
      await poll(
        "the cold node lists the key once fetched",
        () => kms.call("GET", "/app/listpubkeys", "anonymous", { url: cold, fresh: true }),
        listsIt,
      );
    });

    await t.step("a release of a key just created on the primary, asked of a backup", async () => {
      const { primary, backups } = await roles(kms);
      const created = await kms.call("POST", "/app/refresh", "member", {
        url: primary,
        fresh: true,
      });
      assert.equal(created.status, 200, created.text);
      // The backup may not hold the key yet: its client waits for it within its retry budget.
      const released = await release(kms, kms.client(backups[1]), created.body.keyId);
      assert.equal(released.publicKey, created.body.publicKey);
    });

    await t.step("the primary dies in the middle of a rotation loop", async () => {
      const client = kms.client();
      const before = await listNodes(kms);
      const acknowledged: { txId: string; publicKey: string }[] = [];
      const committed = new Map<string, unknown>();
      let failures = 0;
      let killed: Promise<string> | undefined;

      /** Records the receipt of every acknowledged write the service says is committed. */
      const recordCommitted = async () => {
        for (const { txId } of acknowledged) {
          if (committed.has(txId)) continue;
          const status = await kms.call("GET", `/app/tx?transaction_id=${txId}`, "anonymous", {
            fresh: true,
          });
          if (status.body?.status !== "Committed") continue;
          const receipt = await receiptOf(kms, txId);
          assert.equal(receipt.status, 200, receipt.text);
          committed.set(txId, receipt.body);
        }
      };

      while (acknowledged.length < 30) {
        if (acknowledged.length === 10 && committed.size === 0) {
          await poll("writes committed before the kill", async () => {
            await recordCommitted();
            return committed.size;
          }, (n) => n > 0);
        }
        if (acknowledged.length > 10 && killed === undefined) {
          // The kill lands while the newest acknowledged writes are not committed yet.
          const commit = await kms.call("GET", "/app/commit", "anonymous", { fresh: true });
          const newest = acknowledged[acknowledged.length - 1].txId;
          if (seqnoOf(newest) > seqnoOf(commit.body.transaction_id)) killed = kms.stopPrimary();
        }
        let reply: Reply | undefined;
        try {
          reply = await kms.call("POST", "/app/refresh", "member", { fresh: true });
        } catch {
          // The connection went down with its node.
        }
        if (reply?.status !== 200) {
          // A node that died, or a network between primaries (503): ask again, as a client does.
          failures++;
          assert.ok(failures < 200, `the network did not recover: ${reply?.text}`);
          await sleep(50);
          continue;
        }
        acknowledged.push({ txId: txIdOf(reply), publicKey: reply.body.publicKey });
        if (acknowledged.length > 20 && acknowledged.length % 3 === 0) await recordCommitted();
      }
      const elected = await killed!;
      assert.match(elected, /^node \d+ is primary in view \d+/);
      const after = await listNodes(kms);
      assert.notEqual(
        after.find((n) => n.primary)!.node_id,
        before.find((n) => n.primary)!.node_id,
      );
      assert.equal(after.length, 3, "the stopped node is still a node of the service");
      assert.ok(committed.size > 0, "some writes were committed before the end");

      // Everything any node reported committed is still there, with the same receipt.
      const lastTx = acknowledged[acknowledged.length - 1].txId;
      const { backups } = await roles(kms);
      for (const url of backups) await committedOn(kms, url, lastTx);
      for (const [txId, receipt] of committed) {
        for (const url of backups) {
          const status = await kms.call("GET", `/app/tx?transaction_id=${txId}`, "anonymous", {
            url,
            fresh: true,
          });
          assert.equal(status.body.status, "Committed", `${txId} on ${url}`);
        }
        const again = await receiptOf(kms, txId);
        assert.deepEqual(again.body, receipt, `${txId} keeps its receipt`);
      }
      // Every acknowledged write was either committed or lost with the old primary's view.
      for (const { txId } of acknowledged) {
        const status = await kms.call("GET", `/app/tx?transaction_id=${txId}`, "anonymous", {
          fresh: true,
        });
        assert.ok(
          ["Committed", "Invalid"].includes(status.body.status),
          `${txId}: ${status.body.status}`,
        );
        if (committed.has(txId)) assert.equal(status.body.status, "Committed");
      }
      assert.ok(seqnoOf(lastTx) > seqnoOf(acknowledged[0].txId));

      // The client made before the failover keeps working.
      const listed = await poll(
        "the newest key listed after the failover",
        () => client.listKeys(),
        (r) => E.isRight(r) && r.right.at(-1)!.publicKey === acknowledged.at(-1)!.publicKey,
      );
      assert.ok(E.isRight(listed));
      await release(kms, client);
    });

    await t.step("no private key or token in any node's log", async () => {
      await kms.assertLogsFreeOfSecrets();
    });
  } finally {
    await kms.close();
  }
});
