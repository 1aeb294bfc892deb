/**
 * A sandbox restart on the same workspace (SIGTERM, then `scripts/sandbox.ts` again) loses
 * nothing: keys (including one created just before the signal, not yet signed), their receipts,
 * the policies, the trusted issuer, and governance keeps working.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { equal } from "../../core/bytes.ts";
import {
  assertListed,
  listWhenSigned,
  poll,
  refresh,
  startKms,
  type Unwrapped,
} from "./_harness.ts";

type KeyRecord = Awaited<ReturnType<typeof refresh>>;

const policyPaths = [
  "/app/keyReleasePolicy",
  "/app/settingsPolicy",
  "/app/keyRotationPolicy",
  `/app/jwtValidationPolicy?issuer=${encodeURIComponent("http://Demo-jwt-issuer")}`,
];

Deno.test("e2e: a sandbox restart keeps keys, policies and receipts", async (t) => {
  const kms = await startKms({
    trustIssuer: true,
    releasePolicy: true,
    rotation: { interval: 3600, grace: 3600 },
  });
  const keys: KeyRecord[] = [];
  const released = new Map<number, Unwrapped>();
  const policies = new Map<string, unknown>();
  let listedBefore: { publicKey: string; receipt: string }[] = [];
  let outBefore = "";

  const release = async (kid: number) => {
    const { reply, key } = await poll(
      `key ${kid} released`,
      async () => await kms.releaseKey(await kms.token(), `?kid=${kid}`),
      (r) => r.reply.status !== 202,
    );
    assert.equal(reply.status, 200, reply.text);
    return key!;
  };

  try {
    await t.step("before: two signed keys, released; policies read", async () => {
      await kms.cli(
        ["settings", "-", "--vote-with", "0,1"],
        JSON.stringify({
          settings_policy: {
            service: {
              name: "restarted-kms",
              description: "survives",
              version: "3.0.0",
              debug: false,
            },
          },
        }),
      );
      keys.push(await refresh(kms), await refresh(kms));
      listedBefore = (await assertListed(kms, keys)).body;
      for (const key of keys) released.set(key.keyId, await release(key.keyId));
      for (const path of policyPaths) {
        const reply = await kms.call("GET", path);
        assert.equal(reply.status, 200, reply.text);
        policies.set(path, reply.body);
      }
      assert.equal((policies.get("/app/settingsPolicy") as { version: number }).version, 1);
    });

    await t.step("SIGTERM right after a refresh; the same workspace starts again", async () => {
      // Not yet signed when the signal arrives: the sandbox signs pending transactions first.
      keys.push(await refresh(kms));
      outBefore = await Deno.readTextFile(join(kms.workspace, "sandbox_0", "out"));
      await kms.restart();
      const heartbeat = await kms.call("GET", "/app/heartbeat");
      assert.equal(heartbeat.status, 200, heartbeat.text);
      assert.deepEqual(heartbeat.body, { status: "ok" });
    });

    await t.step("after: the policies and the trusted issuer are the same", async () => {
      for (const path of policyPaths) {
        const reply = await kms.call("GET", path);
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(reply.body, policies.get(path), path);
      }
      const auth = await kms.call("GET", "/app/auth", { token: await kms.token() });
      assert.equal(auth.status, 200, auth.text);
      assert.equal(auth.body.issuer, kms.idp.issuer);
    });

    await t.step("after: the keys and their receipts are the same, and verify", async () => {
      // The listing carries the newest two keys; /pubkey serves every key with its receipt.
      const listed = await assertListed(kms, keys.slice(-2));
      assert.deepEqual(listed.body[0], listedBefore[1], "the same receipt, byte for byte");
      const first = await listWhenSigned(kms, `/app/pubkey?kid=${keys[0].keyId}`);
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(
        { publicKey: first.body.publicKey, receipt: first.body.receipt },
        listedBefore[0],
        "the unlisted key's receipt, byte for byte",
      );
      const client = kms.client();
      const verified = await client.listKeys();
      if (E.isLeft(verified)) assert.fail(verified.left.message);
      assert.deepEqual(verified.right.map((k) => k.keyId), keys.slice(-2).map((k) => k.keyId));
      for (const [kid, before] of released) {
        const after = await release(kid);
        assert.ok(equal(after.privateKey.d, before.privateKey.d), `key ${kid} is the same key`);
        assert.equal(after.receipt, before.receipt);
      }
      const third = await client.releaseKey({ token: await kms.token(), unwrap: kms.tpm.unwrap });
      if (E.isLeft(third)) assert.fail(third.left.message);
      assert.equal(third.right.keyId, keys[2].keyId, "the key created before SIGTERM survived");
    });

    await t.step("after: new keys continue the sequence; governance still works", async () => {
      const next = await refresh(kms);
      assert.equal(next.index, 3);
      assert.ok(!keys.some((k) => k.keyId === next.keyId), "no id of a releasable key reused");
      keys.push(next);
      const before = (await kms.call("GET", "/app/keyReleasePolicy")).body.version;
      await kms.cli(
        ["policy", "add", "-", "--vote-with", "0,1"],
        JSON.stringify({ type: "add", claims: { "x-ms-azurevm-osversion-major": [24] } }),
      );
      const after = await kms.call("GET", "/app/keyReleasePolicy");
      assert.equal(after.body.version, before + 1);
      assert.deepEqual(after.body.policy.claims["x-ms-azurevm-osversion-major"], [22, 23, 24]);
    });

    await t.step("a second restart in quick succession loses nothing either", async () => {
      await kms.restart();
      await assertListed(kms, keys.slice(-2));
      const version = (await kms.call("GET", "/app/keyReleasePolicy")).body.version;
      assert.equal(
        version,
        (policies.get("/app/keyReleasePolicy") as { version: number }).version + 1,
      );
    });

    await t.step("sandbox_0/out holds every run; no secret in any log", async () => {
      const out = await Deno.readTextFile(join(kms.workspace, "sandbox_0", "out"));
      assert.ok(out.startsWith(outBefore), "the node's log is appended to, not replaced");
      assert.ok(out.length > outBefore.length);
      await kms.assertLogsFreeOfSecrets();
    });
  } finally {
    await kms.close();
  }
});
