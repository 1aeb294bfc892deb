/**
 * The OHTTP path against a real sandbox: a client lists the KMS's keys (receipts verified), seals a
 * request to the newest, a gateway (in process, with the real KMS client, tokens of the demo
 * issuer and the demo TPM key) gets the private key from the KMS and forwards the request to an
 * echo target, and the sealed answer comes back. After a rotation the client moves to the new key
 * and the gateway releases it; the old key keeps working through its grace period.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { p384KeyConfig } from "../../core/ohttp/keyConfig.ts";
import type { KeyConfig } from "../../core/ohttp/keyConfig.ts";
import { createGateway } from "../../client/gateway/gateway.ts";
import { postRequest, sendOhttpRequest } from "../../client/gateway/sendRequest.ts";
import type { KmsClient } from "../../client/kms/client.ts";
import { type Kms, poll, refresh, secretForms, startKms } from "./_harness.ts";

/** What the echo target saw. */
interface Seen {
  readonly method: string;
  readonly path: string;
  readonly body: string;
}

/** Seals `prompt` to `config`, sends it through the gateway and reads the whole answer. */
const ask = async (gatewayUrl: string, config: KeyConfig, prompt: string) => {
  const answer = await sendOhttpRequest({
    url: gatewayUrl,
    config,
    request: postRequest("/v1/completions", new TextEncoder().encode(prompt), "text/plain"),
  });
  if (E.isLeft(answer)) assert.fail(answer.left.message);
  return {
    status: answer.right.status,
    sealed: answer.right.sealed,
    body: await new Response(answer.right.body).text(),
  };
};

/** The newest key the client trusts, once it is `keyId` (its receipt may take a second). */
const newestKey = async (client: KmsClient, keyId: number) =>
  await poll(`key ${keyId} listed`, async () => {
    const keys = await client.listKeys();
    if (E.isLeft(keys)) assert.fail(keys.left.message);
    return keys.right[keys.right.length - 1];
  }, (k) => k.keyId === keyId);

Deno.test("e2e: OHTTP client -> gateway -> target with keys from the sandbox's KMS", async (t) => {
  const kms: Kms = await startKms({
    trustIssuer: true,
    releasePolicy: true,
    rotation: { interval: 3600, grace: 3600 },
  });
  const seen: Seen[] = [];
  const target = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.text();
      seen.push({ method: request.method, path: new URL(request.url).pathname, body });
      return new Response(`model saw: ${body}`, { headers: { "content-type": "text/plain" } });
    },
  );
  const client = kms.client();
  const gatewayKms = kms.client();
  const releasedKids: number[] = [];
  const gateway = createGateway({
    kms: {
      // Every key the gateway holds is a secret the logs must not show.
      releaseKey: async (request) => {
        const released = await gatewayKms.releaseKey(request);
        if (E.isRight(released)) {
          releasedKids.push(released.right.keyId);
          for (const form of secretForms(released.right.privateKey.d)) kms.secret(form);
        }
        return released;
      },
    },
    token: () => kms.token(),
    unwrap: (wrapped) => {
      kms.secret(wrapped);
      return kms.tpm.unwrap(wrapped);
    },
    target: new URL(`http://127.0.0.1:${target.addr.port}`),
    log: (line) => kms.log(`[gateway] ${line}`),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, gateway.handle);
  const gatewayUrl = `http://127.0.0.1:${server.addr.port}/score`;

  try {
    const first = await refresh(kms);

    await t.step("a request goes client -> gateway -> target and back, sealed", async () => {
      const key = await newestKey(client, first.keyId);
      assert.equal(key.publicKey, first.publicKey);
      // Distinctive, so that the log scan can look for it: no hop may log a prompt.
      const prompt = `What is a TEE? ${crypto.randomUUID()}`;
      kms.secret(prompt);
      const answer = await ask(gatewayUrl, key.config, prompt);
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.sealed, true, "the answer is sealed for the client");
      assert.equal(answer.body, `model saw: ${prompt}`);
      assert.deepEqual(seen.at(-1), { method: "POST", path: "/v1/completions", body: prompt });
      assert.deepEqual(releasedKids, [first.keyId], "one release, then the gateway's cache");
      const again = await ask(gatewayUrl, key.config, "and again");
      assert.equal(again.body, "model saw: and again");
      assert.deepEqual(releasedKids, [first.keyId]);
    });

    await t.step(
      "after a refresh the client uses the new key; the gateway releases it",
      async () => {
        const second = await refresh(kms);
        assert.notEqual(second.keyId, first.keyId);
        const key = await newestKey(client, second.keyId);
        assert.equal(key.publicKey, second.publicKey);
        const answer = await ask(gatewayUrl, key.config, "after rotation");
        assert.equal(answer.status, 200, answer.body);
        assert.equal(answer.body, "model saw: after rotation");
        assert.deepEqual(releasedKids, [first.keyId, second.keyId]);
        // A client that still holds the previous key is served while that key is in its grace.
        const keys = await client.listKeys();
        if (E.isLeft(keys)) assert.fail(keys.left.message);
        const previous = keys.right.find((k) => k.keyId === first.keyId)!;
        const late = await ask(gatewayUrl, previous.config, "old key");
        assert.equal(late.body, "model saw: old key");
      },
    );

    await t.step(
      "a key id the KMS does not know: 422 from the gateway, nothing forwarded",
      async () => {
        const keys = await client.listKeys();
        if (E.isLeft(keys)) assert.fail(keys.left.message);
        const held = new Set(keys.right.map((k) => k.keyId));
        const unknownId = [...Array(256).keys()].find((id) => !held.has(id))!;
        const forged = p384KeyConfig(unknownId, keys.right[0].config.publicKey);
        if (E.isLeft(forged)) assert.fail(forged.left.message);
        const count = seen.length;
        const answer = await ask(gatewayUrl, forged.right, "to nobody");
        assert.equal(answer.status, 422, answer.body);
        assert.equal(answer.sealed, false);
        assert.equal(JSON.parse(answer.body).error.code, "UnknownKeyId");
        assert.equal(seen.length, count, "the target saw nothing");
      },
    );

    await t.step("no private scalar, wrapped key, token or prompt in any log", async () => {
      await kms.assertLogsFreeOfSecrets();
    });
  } finally {
    await server.shutdown();
    await target.shutdown();
    await kms.close();
  }
});
