/**
 * OHTTP key ids on a real sandbox when keys stay releasable (a rotation policy of a day and a
 * day of grace): concurrent refreshes and key requests never produce a duplicate id or a 500,
 * 256 keys get the 256 ids, and the 257th refresh is refused with 409 while the newest key stays
 * releasable. The seed computed ids as `(count + 1) % 256` and overwrote its oldest keys instead.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { p384 } from "@noble/curves/nist.js";
import { toHex } from "../../core/bytes.ts";
import {
  assertError,
  assertListed,
  type Kms,
  listWhenSigned,
  poll,
  refresh,
  type Reply,
  startKms,
} from "./_harness.ts";

type KeyRecord = Awaited<ReturnType<typeof refresh>>;

const publicPointHex = (publicKey: string) => publicKey.slice(6, 6 + 194);

/** Releases key `kid` (or the newest), waiting out 202s, and checks it against its KeyConfig. */
const releaseChecked = async (kms: Kms, key: KeyRecord, byKid: boolean) => {
  const { reply, key: unwrapped } = await poll(
    `key ${key.keyId} released`,
    async () => await kms.releaseKey(await kms.token(), byKid ? `?kid=${key.keyId}` : ""),
    (r) => r.reply.status !== 202,
  );
  assert.equal(reply.status, 200, reply.text);
  assert.equal(unwrapped!.kid, key.keyId);
  assert.equal(
    toHex(p384.getPublicKey(unwrapped!.privateKey.d, false)),
    publicPointHex(key.publicKey),
  );
  return unwrapped!;
};

/**
 * The listing advertises the 2 newest keys (all are active here), newest last, and the client
 * verifies their receipts; every key, listed or not, is served with its receipt by `/pubkey`.
 */
const assertListedAndProved = async (kms: Kms, created: readonly KeyRecord[]) => {
  const newest = created.slice(-2);
  await assertListed(kms, newest);
  const keys = await kms.client().listKeys();
  if (E.isLeft(keys)) assert.fail(keys.left.message);
  assert.deepEqual(keys.right.map((k) => k.keyId), newest.map((k) => k.keyId));
  for (const key of created) {
    const one = await listWhenSigned(kms, `/app/pubkey?kid=${key.keyId}`);
    assert.equal(one.status, 200, one.text);
    assert.equal(one.body.publicKey, key.publicKey);
    assert.equal(typeof one.body.receipt, "string");
  }
};

Deno.test("e2e: key ids stay unique among releasable keys; the 257th key is refused", async (t) => {
  const kms = await startKms({
    trustIssuer: true,
    releasePolicy: true,
    rotation: { interval: 86_400, grace: 86_400 },
  });
  const created: KeyRecord[] = [];

  try {
    await t.step("concurrent refresh and key requests: no duplicate ids, no 500", async () => {
      created.push(await refresh(kms));
      await releaseChecked(kms, created[0], true);
      const tokens = await Promise.all(Array.from({ length: 20 }, () => kms.token()));
      const requests: Promise<{ kind: string; reply: Reply }>[] = [];
      for (let i = 0; i < 20; i++) {
        requests.push(
          kms.call("POST", "/app/refresh", "member").then((reply) => ({ kind: "refresh", reply })),
        );
        // The first key has its receipt; the newest may not have one yet (202).
        const query = i % 2 === 0 ? `?kid=${created[0].keyId}` : "";
        requests.push(
          kms.releaseKey(tokens[i], query).then(({ reply }) => ({ kind: `key${query}`, reply })),
        );
        if (i % 4 === 0) {
          requests.push(
            kms.call("GET", "/app/listpubkeys").then((reply) => ({ kind: "list", reply })),
          );
        }
      }
      const answers = await Promise.all(requests);
      for (const { kind, reply } of answers) {
        assert.ok(reply.status < 500, `${kind}: ${reply.status} ${reply.text}`);
        if (kind === "refresh") {
          assert.equal(reply.status, 200, reply.text);
          created.push(reply.body);
        } else if (kind === `key?kid=${created[0].keyId}`) {
          assert.equal(reply.status, 200, reply.text);
          assert.equal(reply.body.kid, created[0].keyId);
        } else {
          assert.ok([200, 202].includes(reply.status), `${kind}: ${reply.text}`);
        }
      }
      assert.equal(created.length, 21);
      assert.equal(new Set(created.map((k) => k.keyId)).size, 21, "no OHTTP id twice");
      assert.equal(new Set(created.map((k) => k.index)).size, 21, "no index twice");
      assert.equal(new Set(created.map((k) => k.publicKey)).size, 21, "no key pair twice");
      created.sort((a, b) => a.index - b.index);
      assert.deepEqual(created.map((k) => k.index), Array.from({ length: 21 }, (_, i) => i));

      await assertListedAndProved(kms, created);
    });

    await t.step("256 releasable keys get the 256 ids; the 257th is refused with 409", async () => {
      while (created.length < 256) created.push(await refresh(kms));
      assert.deepEqual(
        created.map((k) => k.keyId).sort((a, b) => a - b),
        Array.from({ length: 256 }, (_, i) => i),
        "every id once",
      );
      const newest = created[created.length - 1];
      assertError(
        await kms.call("POST", "/app/refresh", "member"),
        409,
        "KeyIdsExhausted",
        /all 256 OHTTP key ids belong to keys that can still be released/,
      );
      // A user cannot force one at all.
      assertError(await kms.call("POST", "/app/refresh", "user"), 403, "Forbidden");
      // A scheduler asking whether a key is due is told no, not refused.
      const due = await kms.call("POST", "/app/refresh?ifDue=true", "member");
      assert.deepEqual(due.body, { created: false, dueAt: newest.notAfter });

      // As in the seed's test_key_refresh_all_ids: the last refresh's id is released.
      await releaseChecked(kms, newest, true);
      await releaseChecked(kms, newest, false);
      await releaseChecked(kms, created[0], true);
      await releaseChecked(kms, created[128], true);

      await assertListedAndProved(kms, created);
    });

    await t.step("no private scalar, wrapped key or token in any log", async () => {
      await kms.assertLogsFreeOfSecrets();
    });
  } finally {
    await kms.close();
  }
});
