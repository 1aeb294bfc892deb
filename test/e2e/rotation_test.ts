/**
 * Key life cycle on a real sandbox under rotation policies of a few seconds: `refresh?ifDue=true`
 * creates a key only when the policy says one is due, /listpubkeys advertises active keys only, a
 * key past its grace period answers 410 and leaves /listpubkeys, and hundreds of refreshes make the one-byte OHTTP ids wrap around without
 * ever giving an id to a new key while an older key holding it can still be released.
 *
 * Key times are whole seconds of the host's clock, which this test shares with the sandbox, so
 * every timing claim is checked against the times the KMS itself reported, with bounded polling.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { toHex } from "../../core/bytes.ts";
import { p384 } from "@noble/curves/nist.js";
import {
  assertError,
  poll,
  refresh,
  type Reply,
  setRotation,
  sleep,
  startKms,
} from "./_harness.ts";

type KeyRecord = Awaited<ReturnType<typeof refresh>>;

/** Asserts that no key in `keys` was given an OHTTP id that a releasable older key still held. */
const assertIdsNeverShared = (keys: readonly KeyRecord[]) => {
  for (const [i, key] of keys.entries()) {
    for (const older of keys.slice(0, i)) {
      if (older.keyId !== key.keyId) continue;
      assert.ok(
        older.releaseUntil <= key.createdAt,
        `key ${key.index} got id ${key.keyId} at ${key.createdAt}, while key ${older.index} ` +
          `held it until ${older.releaseUntil}`,
      );
    }
  }
};

Deno.test("e2e: rotation, grace and expiry on a sandbox with a rotation policy of seconds", async (t) => {
  // Active 2 s then 1 s of grace: long enough for a receipt, short enough to watch expire.
  // Signatures every 250 ms, so that receipts come well within a key's few seconds of life.
  const kms = await startKms({
    trustIssuer: true,
    releasePolicy: true,
    rotation: { interval: 2, grace: 1 },
    signatureIntervalMs: 250,
  });
  const created: KeyRecord[] = [];
  const ifDue = (value = "true"): Promise<Reply> =>
    kms.call("POST", `/app/refresh?ifDue=${value}`, "member");

  try {
    await t.step("refresh?ifDue=true follows the rotation policy", async () => {
      const first = await ifDue();
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.created, true, "no key at all: one is due");
      created.push(first.body);
      assert.equal(first.body.notAfter, first.body.createdAt + 2);
      assert.equal(first.body.releaseUntil, first.body.notAfter + 1);

      let notDue = 0;
      const next = await poll("the next key to fall due", ifDue, (r) => {
        assert.equal(r.status, 200, r.text);
        if (r.body.created) return true;
        notDue++;
        assert.deepEqual(r.body, { created: false, dueAt: first.body.notAfter });
        return false;
      }, { timeoutMs: 15_000, intervalMs: 50 });
      assert.ok(notDue > 0, "not due while the first key is active");
      created.push(next.body);
      assert.ok(
        next.body.createdAt >= first.body.notAfter,
        `created at ${next.body.createdAt}, before ${first.body.notAfter}`,
      );
      assert.notEqual(next.body.keyId, first.body.keyId);

      const again = await ifDue();
      if (again.body.created === false) {
        assert.equal(again.body.dueAt, next.body.notAfter);
      } else {
        // Only when this machine stalled past the second key's end of activity.
        assert.ok(again.body.createdAt >= next.body.notAfter);
        created.push(again.body);
      }
      // Without ifDue (or with ifDue=false) a key is always created.
      const forced = await ifDue("false");
      assert.equal(forced.body.created, true, forced.text);
      created.push(forced.body);
      assertError(await ifDue("maybe"), 400, "InvalidInput", /ifDue must be true or false/);
      assertIdsNeverShared(created);
    });

    await t.step("a key past its grace period: 410, gone from /listpubkeys", async () => {
      const key = await refresh(kms);
      created.push(key);
      let released = 0;
      const expired = await poll(
        `key ${key.keyId} expiring`,
        async () => {
          const sentAt = Date.now();
          const { reply, key: unwrapped } = await kms.releaseKey(
            await kms.token(),
            `?kid=${key.keyId}`,
          );
          if (reply.status === 200) {
            released++;
            assert.ok(sentAt < key.releaseUntil * 1000, "released after its grace period");
            assert.equal(
              toHex(p384.getPublicKey(unwrapped!.privateKey.d, false)),
              key.publicKey.slice(6, 6 + 194),
            );
          } else if (reply.status !== 202) {
            assertError(reply, 410, "KeyExpired");
          }
          return reply;
        },
        (r) => r.status === 410,
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      assert.ok(Date.now() >= key.releaseUntil * 1000, "410 before the grace period ended");
      assert.ok(released > 0, "the key was released while active or in grace");
      assert.match(expired.body.error.message, new RegExp(`key ${key.keyId} expired at`));

      assertError(await kms.call("GET", `/app/pubkey?kid=${key.keyId}`), 410, "KeyExpired");
      // It is the newest key, so /key without kid finds it expired too.
      const { reply: newest } = await kms.releaseKey(await kms.token());
      assertError(newest, 410, "KeyExpired");
      // Every older key ended before it: nothing is left to list.
      const listed = await kms.call("GET", "/app/listpubkeys");
      assertError(listed, 404, "KeyNotFound");
      const keys = await kms.client().listKeys();
      assert.ok(E.isLeft(keys), "the client has no key to use");
    });

    await t.step("after expiry, a new key is due at once and listed with its receipt", async () => {
      const due = await ifDue();
      assert.equal(due.body.created, true, due.text);
      created.push(due.body);
      const listed = await poll(
        "the new key listed",
        () => kms.call("GET", "/app/listpubkeys"),
        (r) => r.status !== 202,
      );
      assert.equal(listed.status, 200, listed.text);
      assert.deepEqual(listed.body.map((e: { publicKey: string }) => e.publicKey), [
        due.body.publicKey,
      ]);
    });

    await t.step(
      "over 256 refreshes: ids wrap around, never shared by releasable keys",
      async () => {
        const from = created.length;
        const deadline = Date.now() + 60_000;
        while (created.length - from < 270) {
          assert.ok(Date.now() < deadline, `only ${created.length - from} keys in 60 s`);
          const sentAt = Date.now();
          const reply = await kms.call("POST", "/app/refresh", "member");
          if (reply.status === 409) {
            // Only a machine fast enough to hold 256 keys within 3 s gets here.
            assertError(reply, 409, "KeyIdsExhausted", /all 256 OHTTP key ids/);
            const held = created.filter((k) => k.releaseUntil * 1000 > sentAt);
            assert.ok(held.length >= 256, `409 with only ${held.length} releasable keys`);
            await sleep(200);
            continue;
          }
          assert.equal(reply.status, 200, reply.text);
          created.push(reply.body);
        }
        assertIdsNeverShared(created);
        const ids = created.slice(from).map((k) => k.keyId);
        assert.ok(new Set(ids).size < ids.length, "270 keys reuse some of the 256 ids");

        const newest = created[created.length - 1];
        const { key } = await poll(
          "the newest key released",
          async () => await kms.releaseKey(await kms.token()),
          (r) => r.reply.status !== 202,
        );
        assert.ok(key, "the newest key stays releasable");
        assert.equal(key.kid, newest.keyId);
        assert.equal(
          toHex(p384.getPublicKey(key.privateKey.d, false)),
          newest.publicKey.slice(6, 6 + 194),
        );
        let sentAt = 0, receivedAt = 0;
        const activeAtAnswer = () =>
          created.filter((k) => k.notAfter * 1000 > receivedAt).slice(-2);
        // A key is listed once the node has fetched its receipt: the listing fills in as it does.
        const listed = await poll("the newest keys listed", async () => {
          sentAt = Date.now();
          const reply = await kms.call("GET", "/app/listpubkeys");
          receivedAt = Date.now();
          return reply;
        }, (r) =>
          r.status === 200 && r.body.at(-1).publicKey === newest.publicKey &&
          activeAtAnswer().every((k) =>
            r.body.some((e: { publicKey: string }) => e.publicKey === k.publicKey)
          ));
        const listedKeys = new Set<string>(
          listed.body.map((e: { publicKey: string }) => e.publicKey),
        );
        assert.equal(listedKeys.size, listed.body.length);
        assert.ok(listedKeys.size <= 2, `${listedKeys.size} keys listed`);
        const listedIds = [...listedKeys].map((k) => parseInt(k.slice(0, 2), 16));
        assert.equal(new Set(listedIds).size, listedIds.length, "listed ids are unique");
        // Only keys active when the KMS answered (between sent and received) are advertised, and
        // the newest of those active until after the answer all are, up to 2.
        for (const key of created) {
          if (listedKeys.has(key.publicKey)) {
            assert.ok(key.notAfter * 1000 > sentAt, `key ${key.index} listed past its activity`);
          }
        }
        for (const key of activeAtAnswer()) {
          assert.ok(listedKeys.has(key.publicKey), `active key ${key.index} not listed`);
        }
        const keys = await kms.client().listKeys();
        if (E.isLeft(keys)) assert.fail(keys.left.message);
        assert.equal(keys.right.at(-1)!.publicKey, newest.publicKey);
      },
    );

    await t.step(
      "a key in its grace period is not listed, yet a gateway gets it by id",
      async () => {
        await setRotation(kms, 2, 60);
        const older = await refresh(kms);
        await sleep(older.notAfter * 1000 - Date.now() + 50);
        const newer = await refresh(kms);
        const listed = await poll(
          "only the active key listed",
          () => kms.call("GET", "/app/listpubkeys"),
          (r) => r.status === 200,
        );
        assert.deepEqual(listed.body.map((e: { publicKey: string }) => e.publicKey), [
          newer.publicKey,
        ]);
        const released = await kms.client().releaseKey({
          kid: older.keyId,
          token: await kms.token(),
          unwrap: kms.tpm.unwrap,
        });
        if (E.isLeft(released)) assert.fail(released.left.message);
        assert.equal(released.right.publicKey, older.publicKey);
      },
    );

    await t.step("the rotation policy can be lengthened again: new keys follow it", async () => {
      await setRotation(kms, 3600, 600);
      const key = await refresh(kms);
      assert.equal(key.notAfter - key.createdAt, 3600);
      assert.equal(key.releaseUntil - key.notAfter, 600);
      const notDue = await ifDue();
      assert.deepEqual(notDue.body, { created: false, dueAt: key.notAfter });
    });

    await t.step("no private scalar, wrapped key or token in any log", async () => {
      await kms.assertLogsFreeOfSecrets();
    });
  } finally {
    await kms.close();
  }
});
