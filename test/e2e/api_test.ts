/**
 * The KMS API on a real sandbox process, scenario by scenario: the seed KMS's system tests
 * (heartbeat, /auth, /refresh, /listpubkeys, /key with and without keys, issuer and policy,
 * `kid`, policies read back) and what this product promises beyond them (denials with their
 * reasons, receipts verified with the client code, no secret in any log).
 *
 * One sandbox for the whole file: the steps run in order and each builds on the state the
 * previous ones left, as an operator would bring a KMS up.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as E from "fp-ts/lib/Either.js";
import { p384 } from "@noble/curves/nist.js";
import { base64 } from "@scure/base";
import { equal, toHex } from "../../core/bytes.ts";
import { decodePem, startAttestationIssuer } from "@kms/sandbox";
import { receiptVerifier } from "../../client/kms/receiptVerifier.ts";
import {
  assertError,
  assertListed,
  isCommitted,
  type Kms,
  poll,
  refresh,
  type Reply,
  sha256Hex,
  startKms,
  txIdOf,
} from "./_harness.ts";
import { SEED_STORED_POLICY } from "../fixtures/policies.ts";

const policies = join(import.meta.dirname!, "..", "..", "governance", "policies");

/** CCF's caller id: SHA-256 of the certificate's DER, hex. */
const certId = async (kms: Kms, name: string): Promise<string> => {
  const pem = await Deno.readTextFile(join(kms.workspace, "sandbox_common", name));
  const der = decodePem("CERTIFICATE", pem);
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", der)));
};

/** A KeyConfig for DHKEM(P-384), HKDF-SHA384, AES-256-GCM, as §5 of the design spells it. */
const keyConfigPattern = (keyId: number) =>
  new RegExp(`^${keyId.toString(16).padStart(2, "0")}001104[0-9a-f]{192}000400020002$`);

/** Asserts CCF's authentication failure: 401 with one detail per policy tried. */
const assertAuthFailure = (reply: Reply, policies: Record<string, RegExp>) => {
  assert.equal(reply.status, 401, reply.text);
  const error = reply.body.error;
  assert.equal(error.code, "InvalidAuthenticationInfo");
  assert.equal(error.message, "Invalid authentication credentials.");
  const details: { auth_policy: string; message: string }[] = error.details;
  const byPolicy = new Map(details.map((d) => [d.auth_policy, d.message]));
  assert.deepEqual([...byPolicy.keys()].sort(), Object.keys(policies).sort(), reply.text);
  for (const [policy, message] of Object.entries(policies)) {
    assert.match(byPolicy.get(policy)!, message);
  }
};

Deno.test("e2e: the KMS API on a sandbox, every scenario of the seed's system tests", async (t) => {
  const kms = await startKms();
  const verifier = receiptVerifier(kms.serviceCertPem);
  /** Every key this file created, by creation order. */
  const created: Awaited<ReturnType<typeof refresh>>[] = [];
  const newest = () => created[created.length - 1];

  /** Verifies one listed entry's receipt with the client's verifier and by hand. */
  const assertReceiptBinds = async (receipt: string, publicKey: string) => {
    assert.equal(typeof receipt, "string", "the receipt is JSON in a string, as the seed sends it");
    const verified = await verifier.verify(receipt, publicKey);
    if (E.isLeft(verified)) assert.fail(`the receipt does not verify: ${verified.left.message}`);
    const digest = await sha256Hex(publicKey);
    assert.equal(toHex(verified.right.claimsDigest), digest);
    assert.equal(JSON.parse(receipt).leaf_components.claims_digest, digest);
    // The same receipt must not vouch for another key.
    const other = publicKey.slice(0, -1) + (publicKey.endsWith("0") ? "1" : "0");
    assert.ok(E.isLeft(await verifier.verify(receipt, other)));
  };

  try {
    await t.step("heartbeat, with and without the /app prefix", async () => {
      for (const path of ["/app/heartbeat", "/heartbeat"]) {
        const reply = await kms.call("GET", path);
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(reply.body, { status: "ok" });
      }
    });

    await t.step("/app/auth with a user certificate, a member certificate, and none", async () => {
      const user = await kms.call("GET", "/app/auth", "user");
      assert.equal(user.status, 200, user.text);
      assert.deepEqual(user.body, { policy: "user_cert", id: await certId(kms, "user0_cert.pem") });
      const member = await kms.call("GET", "/app/auth", "member");
      assert.equal(member.status, 200, member.text);
      assert.deepEqual(member.body, {
        policy: "member_cert",
        id: await certId(kms, "member0_cert.pem"),
      });
      assertAuthFailure(await kms.call("GET", "/app/auth"), {
        user_cert: /no caller user certificate/i,
        member_cert: /no caller member certificate/i,
        jwt: /missing authorization/i,
      });
    });

    await t.step(
      "a JWT of an issuer nobody trusted is refused: /app/auth and /app/key",
      async () => {
        const token = await kms.token();
        const unknownKey = { jwt: /JWT signing key not found/ };
        assertAuthFailure(await kms.call("GET", "/app/auth", { token }), {
          user_cert: /certificate/,
          member_cert: /certificate/,
          ...unknownKey,
        });
        const key = await kms.call("POST", "/app/key", { token });
        assertAuthFailure(key, unknownKey);
        assert.ok(!key.text.includes(token), "the token is not echoed");
      },
    );

    await t.step("/listpubkeys and /key before any key: 404, never an empty 200", async () => {
      for (const path of ["/app/listpubkeys", "/listpubkeys", "/app/pubkey"]) {
        assertError(
          await kms.call("GET", path),
          404,
          "KeyNotFound",
          /no key exists yet|no key can be released/,
        );
      }
    });

    await t.step("trust the demo issuer: /app/auth with a JWT names it", async () => {
      await kms.cli(["trust-issuer", "--demo", "--idp-url", kms.idp.url, "--vote-with", "0,1"]);
      const token = await kms.token();
      const reply = await kms.call("GET", "/app/auth", { token });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.policy, "jwt");
      assert.equal(reply.body.issuer, kms.idp.issuer);
      assert.equal(reply.body.iss, kms.idp.issuer);
      assert.equal(typeof reply.body.exp, "number");
      assert.ok(!reply.text.includes(token));
      const policy = await kms.call(
        "GET",
        `/app/jwtValidationPolicy?issuer=${encodeURIComponent(kms.idp.issuer)}`,
      );
      assert.equal(policy.status, 200, policy.text);
      assert.deepEqual(policy.body, {
        issuer: kms.idp.issuer,
        validation_policy: { iss: kms.idp.issuer },
      });
      assertError(
        await kms.call("GET", "/app/jwtValidationPolicy?issuer=https%3A%2F%2Fnobody"),
        404,
        "KeyNotFound",
      );
      assertError(await kms.call("GET", "/app/jwtValidationPolicy"), 400, "InvalidInput");
    });

    await t.step("/key with no key release policy: 403, denied by default", async () => {
      const read = await kms.call("GET", "/app/keyReleasePolicy");
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(read.body, { version: 0, policy: { claims: {}, gte: {}, gt: {} } });
      const { reply } = await kms.releaseKey(await kms.token());
      assertError(reply, 403, "PolicyDenied", /no key release policy is set/);
      assert.deepEqual(reply.body.error.details, []);
    });

    await t.step("key release policy added: read back, version 1", async () => {
      await kms.cli([
        "policy",
        "add",
        join(policies, "key-release-policy-add.json"),
        "--vote-with",
        "0,1",
      ]);
      const read = await kms.call("GET", "/app/keyReleasePolicy");
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(read.body, SEED_STORED_POLICY);
    });

    await t.step("/key with issuer and policy but no key: 404", async () => {
      const { reply } = await kms.releaseKey(await kms.token());
      assertError(reply, 404, "KeyNotFound", /no key exists yet/);
      const { reply: byKid } = await kms.releaseKey(await kms.token(), "?kid=0");
      assertError(byKid, 404, "KeyNotFound", /no key has OHTTP key id 0/);
    });

    await t.step("/refresh needs a certificate: 401 without, nothing created", async () => {
      const reply = await kms.call("POST", "/app/refresh");
      assertAuthFailure(reply, {
        user_cert: /no caller user certificate/i,
        member_cert: /no caller member certificate/i,
      });
      // A token is no credential for /refresh either.
      assertAuthFailure(await kms.call("POST", "/app/refresh", { token: await kms.token() }), {
        user_cert: /certificate/,
        member_cert: /certificate/,
      });
      assertError(await kms.call("GET", "/app/listpubkeys"), 404, "KeyNotFound");
    });

    await t.step(
      "refresh (user0 may only ask ifDue; member0 forces): the new key's record",
      async () => {
        assertError(
          await kms.call("POST", "/app/refresh", "user"),
          403,
          "Forbidden",
          /only members may force a rotation/,
        );
        const before = Math.floor(Date.now() / 1000);
        const key = await refresh(kms, "user", "?ifDue=true");
        created.push(key);
        assert.equal(key.index, 0);
        assert.equal(key.id, key.keyId);
        assert.match(key.publicKey, keyConfigPattern(key.keyId));
        assert.ok(Math.abs(key.createdAt - before) <= 5, "createdAt is the host's time, seconds");
        assert.equal(key.notAfter, key.createdAt + 86_400, "the default rotation policy: daily");
        assert.equal(key.releaseUntil, key.notAfter + 86_400, "a day of grace");
        assert.deepEqual(
          Object.keys(key).sort(),
          ["created", "createdAt", "id", "index", "keyId", "notAfter", "publicKey", "releaseUntil"],
          "nothing private in the answer",
        );
      },
    );

    await t.step("/listpubkeys: 202 with retry-after until signed, then 200 verified", async () => {
      const early = await kms.call("GET", "/app/listpubkeys");
      if (early.status === 202) {
        assertError(early, 202, "ReceiptNotReady");
        assert.equal(early.headers.get("retry-after"), "1");
      } else {
        // Only when a signature landed between the refresh and this call.
        assert.equal(early.status, 200, early.text);
        assert.ok(await isCommitted(kms, txIdOf(early)), "200 before the key was signed");
      }
      const listed = await poll(
        "the first key listed",
        () => kms.call("GET", "/app/listpubkeys"),
        (r) => r.status === 200,
      );
      assert.equal(listed.body.length, 1);
      assert.deepEqual(Object.keys(listed.body[0]).sort(), ["publicKey", "receipt"]);
      assert.equal(listed.body[0].publicKey, created[0].publicKey);
      await assertReceiptBinds(listed.body[0].receipt, created[0].publicKey);
      const bare = await kms.call("GET", "/listpubkeys");
      assert.deepEqual(bare.body, listed.body, "the real client's path serves the same");
      const client = kms.client();
      const keys = await client.listKeys();
      if (E.isLeft(keys)) assert.fail(keys.left.message);
      assert.deepEqual(keys.right.map((k) => [k.keyId, k.publicKey]), [
        [created[0].keyId, created[0].publicKey],
      ]);
    });

    await t.step(
      "refresh repeatedly (member0): ids differ, each key 202 until signed",
      async () => {
        let notReady = 0;
        for (let i = 0; i < 5; i++) {
          const key = await refresh(kms);
          created.push(key);
          const pubkey = await kms.call("GET", `/app/pubkey?kid=${key.keyId}`);
          if (pubkey.status === 202) {
            notReady++;
            assertError(pubkey, 202, "ReceiptNotReady");
            assert.equal(pubkey.headers.get("retry-after"), "1");
          } else {
            assert.equal(pubkey.status, 200, pubkey.text);
            assert.ok(await isCommitted(kms, txIdOf(pubkey)));
          }
        }
        // Five refresh-then-read windows of a few ms cannot all contain a once-a-second signature.
        assert.ok(notReady > 0, "a key without its receipt answered 202 at least once");
        assert.equal(new Set(created.map((k) => k.keyId)).size, created.length, "OHTTP ids differ");
        assert.deepEqual(created.map((k) => k.index), [0, 1, 2, 3, 4, 5]);
        for (const key of created) assert.match(key.publicKey, keyConfigPattern(key.keyId));
        assert.equal(new Set(created.map((k) => k.publicKey)).size, created.length);
      },
    );

    await t.step(
      "/listpubkeys lists the 2 newest keys, newest last, receipts verified",
      async () => {
        // Every key created here is active: the listing carries the newest two.
        const newestTwo = created.slice(-2);
        const listed = await assertListed(kms, newestTwo);
        for (const entry of listed.body) await assertReceiptBinds(entry.receipt, entry.publicKey);
        const txids = listed.body.map((e: { receipt: string }) =>
          JSON.parse(e.receipt).leaf_components.commit_evidence.split(":")[1]
        );
        assert.equal(new Set(txids).size, newestTwo.length, "one transaction per key");
        const keys = await kms.client().listKeys();
        if (E.isLeft(keys)) assert.fail(keys.left.message);
        assert.deepEqual(keys.right.map((k) => k.keyId), newestTwo.map((k) => k.keyId));
        const pubkey = await kms.call("GET", "/app/pubkey");
        assert.equal(pubkey.status, 200, pubkey.text);
        assert.equal(pubkey.body.publicKey, newest().publicKey, "/pubkey without kid: the newest");
      },
    );

    await t.step(
      "/key with policy and keys: the newest, wrapped, unwrapped, matching",
      async () => {
        const { reply, key } = await kms.releaseKey(await kms.token());
        assert.equal(reply.status, 200, reply.text);
        // What the OHTTP server reads, and the release's number (its record is on the ledger).
        assert.deepEqual(Object.keys(reply.body).sort(), ["key", "kid", "receipt", "release"]);
        assert.equal(key!.kid, newest().keyId, "without kid: the newest key");
        assert.equal(base64.decode(key!.wrapped).length, 256, "RSA-2048 OAEP ciphertext");
        await assertReceiptBinds(key!.receipt, newest().publicKey);
        const point = p384.getPublicKey(key!.privateKey.d, false);
        assert.equal(newest().publicKey.slice(6, 6 + 194), toHex(point), "d matches the KeyConfig");
        assert.equal(key!.privateKey.kid, newest().keyId, "the CBOR key names its kid");

        const client = kms.client();
        const released = await client.releaseKey({
          token: await kms.token(),
          unwrap: kms.tpm.unwrap,
        });
        if (E.isLeft(released)) assert.fail(released.left.message);
        assert.equal(released.right.keyId, newest().keyId);
        assert.ok(equal(released.right.privateKey.d, key!.privateKey.d), "the same key each time");
      },
    );

    await t.step(
      "/key?kid=N: present, absent (newest), unknown (404), not a number (400)",
      async () => {
        const first = created[0];
        const { reply, key } = await kms.releaseKey(await kms.token(), `?kid=${first.keyId}`);
        assert.equal(reply.status, 200, reply.text);
        assert.equal(key!.kid, first.keyId);
        assert.equal(
          first.publicKey.slice(6, 6 + 194),
          toHex(p384.getPublicKey(key!.privateKey.d, false)),
        );
        await assertReceiptBinds(key!.receipt, first.publicKey);

        const client = kms.client();
        for (const k of created) {
          const released = await client.releaseKey({
            kid: k.keyId,
            token: await kms.token(),
            unwrap: kms.tpm.unwrap,
          });
          if (E.isLeft(released)) assert.fail(`kid ${k.keyId}: ${released.left.message}`);
          assert.equal(released.right.publicKey, k.publicKey);
          kms.secret(toHex(released.right.privateKey.d));
        }

        const unknown = (newest().keyId + 100) % 256;
        const missing = await kms.releaseKey(await kms.token(), `?kid=${unknown}`);
        assertError(
          missing.reply,
          404,
          "KeyNotFound",
          new RegExp(`no key has OHTTP key id ${unknown}`),
        );
        assertError(await kms.call("GET", `/app/pubkey?kid=${unknown}`), 404, "KeyNotFound");

        for (const kid of ["doesntexist", "abc", "1.5", "-1", "256", "0x1", ""]) {
          const { reply } = await kms.releaseKey(await kms.token(), `?kid=${kid}`);
          assertError(reply, 400, "InvalidInput", /kid must be a decimal integer from 0 to 255/);
        }
        const twice = await kms.releaseKey(await kms.token(), "?kid=1&kid=2");
        assertError(twice.reply, 400, "InvalidInput", /kid is given 2 times/);
      },
    );

    await t.step("each denial carries its reasons: claim, rule, expected, actual", async () => {
      const denied = async (query: string) => {
        const token = await kms.token(query);
        const { reply } = await kms.releaseKey(token);
        assertError(reply, 403, "PolicyDenied", /does not satisfy the key release policy/);
        assert.ok(!reply.text.includes(token), "the token is not echoed");
        return reply.body.error.details;
      };
      const osMajor = "x-ms-azurevm-osversion-major";
      assert.deepEqual(await denied(`?${osMajor}=21`), [
        { claim: osMajor, rule: "claims", expected: [22, 23], actual: 21 },
        { claim: osMajor, rule: "gte", expected: 22, actual: 21 },
        { claim: osMajor, rule: "gt", expected: 21, actual: 21 },
      ]);
      // Values compare by JSON type: the string "22" is not the number 22.
      assert.deepEqual(await denied(`?${osMajor}=%2222%22`), [
        { claim: osMajor, rule: "claims", expected: [22, 23], actual: "22" },
        { claim: osMajor, rule: "gte", expected: 22, actual: "22" },
        { claim: osMajor, rule: "gt", expected: 21, actual: "22" },
      ]);
      assert.deepEqual(await denied("?omit=x-ms-azurevm-debuggersdisabled"), [
        { claim: "x-ms-azurevm-debuggersdisabled", rule: "claims", expected: [true], actual: null },
      ]);
      assert.deepEqual(await denied("?x-ms-ver=%222.0%22&x-ms-azurevm-debuggersdisabled=false"), [
        { claim: "x-ms-ver", rule: "claims", expected: ["1.0"], actual: "2.0" },
        {
          claim: "x-ms-azurevm-debuggersdisabled",
          rule: "claims",
          expected: [true],
          actual: false,
        },
      ]);
      // A token that passes the policy but names no TPM key has nothing to wrap to.
      const { reply } = await kms.releaseKey(await kms.token("?omit=x-ms-runtime"));
      assertError(reply, 400, "InvalidInput", /x-ms-runtime\.keys/);
    });

    await t.step("a token whose iss breaks the issuer's validation policy: /key 401", async () => {
      const { reply } = await kms.releaseKey(await kms.token("?iss=test"));
      assertError(reply, 401, "Unauthenticated", /JWT validation policy .*claims iss/);
    });

    // As the seed's test_auth_jwt_wrong_iss: /auth applies the issuer's validation policy too.
    await t.step(
      "a token whose iss breaks the issuer's validation policy: /auth 401 (seed)",
      async () => {
        const reply = await kms.call("GET", "/app/auth", { token: await kms.token("?iss=test") });
        assertError(reply, 401, "Unauthenticated", /JWT validation policy .*claims iss/);
      },
    );

    await t.step(
      "a JWT of another, untrusted issuer is refused while keys exist: 401",
      async () => {
        const stranger = await startAttestationIssuer({
          workspace: join(kms.workspace, "stranger"),
          port: 0,
          issuer: "https://untrusted.example",
        });
        try {
          const response = await fetch(`${stranger.url}/token`, { method: "POST" });
          const token: string = (await response.json()).access_token;
          kms.secret(token);
          assertAuthFailure(await kms.call("POST", "/app/key", { token }), {
            jwt: /JWT signing key not found/,
          });
          // Even signed with the trusted issuer's name, a key CCF does not hold proves nothing.
          const forged = await fetch(`${stranger.url}/token?iss=${kms.idp.issuer}`, {
            method: "POST",
          });
          const forgedToken: string = (await forged.json()).access_token;
          kms.secret(forgedToken);
          assertAuthFailure(await kms.call("POST", "/app/key", { token: forgedToken }), {
            jwt: /JWT signing key not found/,
          });
        } finally {
          await stranger.stop();
        }
      },
    );

    await t.step(
      "key release policy: remove, then the seed's add/remove, versions increase",
      async () => {
        const version = async () => (await kms.call("GET", "/app/keyReleasePolicy")).body.version;
        const v1 = await version();
        await kms.cli([
          "policy",
          "remove",
          join(policies, "key-release-policy-remove.json"),
          "--vote-with",
          "0,1",
        ]);
        const removed = await kms.call("GET", "/app/keyReleasePolicy");
        assert.equal(removed.body.version, v1 + 1);
        assert.deepEqual(removed.body.policy.claims["x-ms-azurevm-osversion-major"], [22]);
        const { reply } = await kms.releaseKey(
          await kms.token("?x-ms-azurevm-osversion-major=23"),
        );
        assertError(reply, 403, "PolicyDenied");
        assert.deepEqual(reply.body.error.details, [
          { claim: "x-ms-azurevm-osversion-major", rule: "claims", expected: [22], actual: 23 },
        ]);

        const change = (type: string, values: string[]) =>
          JSON.stringify({ type, claims: { "x-ms-attestation-type": values } });
        await kms.cli(
          ["policy", "add", "-", "--vote-with", "0,1"],
          change("add", ["azurevm", "test-value"]),
        );
        const added = await kms.call("GET", "/app/keyReleasePolicy");
        assert.equal(added.body.version, v1 + 2);
        assert.deepEqual(added.body.policy.claims["x-ms-attestation-type"], [
          "azurevm",
          "test-value",
        ]);
        await kms.cli(
          ["policy", "remove", "-", "--vote-with", "0,1"],
          change("remove", ["test-value"]),
        );
        const narrowed = await kms.call("GET", "/app/keyReleasePolicy");
        assert.equal(narrowed.body.version, v1 + 3);
        assert.deepEqual(narrowed.body.policy.claims["x-ms-attestation-type"], ["azurevm"]);
        // Removing the last allowed value would widen the policy: refused, nothing changes.
        const refused = await kms.cliRun(
          ["policy", "remove", "-", "--vote-with", "0,1"],
          change("remove", ["azurevm"]),
        );
        assert.equal(refused.code, 1, refused.output);
        assert.match(refused.output, /x-ms-attestation-type/);
        assert.deepEqual((await kms.call("GET", "/app/keyReleasePolicy")).body, narrowed.body);
        // Every version stays readable without replaying the ledger, with the proposal that set it.
        for (
          const [v, expected] of [[v1 + 1, removed], [v1 + 2, added], [v1 + 3, narrowed]] as const
        ) {
          const past = await kms.call("GET", `/app/keyReleasePolicy?version=${v}`);
          assert.equal(past.status, 200, past.text);
          assert.deepEqual({ version: past.body.version, policy: past.body.policy }, expected.body);
          assert.match(past.body.proposalId, /^[0-9a-f]{64}$/);
        }
        const { reply: allowed } = await kms.releaseKey(await kms.token());
        assert.equal(allowed.status, 200, allowed.text);
      },
    );

    await t.step(
      "settings policy and rotation policy: set through governance, read back",
      async () => {
        const before = await kms.call("GET", "/app/settingsPolicy");
        assert.equal(before.status, 200, before.text);
        const service = {
          name: "custom-kms",
          description: "Custom Key Management Service",
          version: "2.1.0",
          debug: true,
        };
        await kms.cli(
          ["settings", "-", "--vote-with", "0,1"],
          JSON.stringify({ settings_policy: { service } }),
        );
        const after = await kms.call("GET", "/app/settingsPolicy");
        assert.equal(after.status, 200, after.text);
        assert.deepEqual(after.body, { version: before.body.version + 1, policy: { service } });

        const rotation = { rotation_interval_seconds: 30, grace_period_seconds: 5 };
        await kms.cli(
          ["rotation", "-", "--vote-with", "0,1"],
          JSON.stringify({ key_rotation_policy: rotation }),
        );
        const read = await kms.call("GET", "/app/keyRotationPolicy");
        assert.equal(read.status, 200, read.text);
        assert.deepEqual(read.body.policy, rotation);
        assert.equal(read.body.version, 1);
        const key = await refresh(kms);
        assert.equal(key.notAfter, key.createdAt + 30, "new keys follow the new policy");
        assert.equal(key.releaseUntil, key.notAfter + 5);
      },
    );

    await t.step("no private scalar, wrapped key or token in any log", async () => {
      await kms.assertLogsFreeOfSecrets();
    });
  } finally {
    await kms.close();
  }
});
