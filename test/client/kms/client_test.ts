/**
 * The KMS client against a misbehaving KMS over pinned TLS: whatever the KMS answers, the client
 * answers a Left that blames the service, and never throws.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { createKmsClient, type KmsClientOptions } from "../../../client/kms/client.ts";
import { encodePem } from "@kms/sandbox";
import { createReceiptIssuer } from "../../fixtures/receipts.ts";

/** A KMS stand-in over HTTPS with the fixture's node certificate, answering with `handler`. */
const withKms = async (
  handler: (request: Request) => Response,
  run: (client: ReturnType<typeof createKmsClient>) => Promise<void>,
  options: Partial<KmsClientOptions> = {},
) => {
  const certificates = await createReceiptIssuer();
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", certificates.nodeKeys.privateKey),
  );
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: certificates.nodeCertPem,
    key: encodePem("PRIVATE KEY", pkcs8),
    onListen: () => {},
  }, handler);
  const client = createKmsClient({
    url: `https://127.0.0.1:${server.addr.port}`,
    serviceCertPem: certificates.serviceCertPem,
    ...options,
  });
  try {
    await run(client);
  } finally {
    client.close();
    await server.shutdown();
  }
};

const unwrap = () => Promise.reject(new Error("never reached"));

Deno.test("KMS client: a 200 whose body is not JSON is an Internal Left, not a throw", async () => {
  await withKms(() => new Response("<html>proxy error</html>"), async (client) => {
    const keys = await client.listKeys();
    assert.ok(E.isLeft(keys));
    assert.equal(keys.left._tag, "Internal");
    assert.match(keys.left.message, /\/listpubkeys with a body that is not JSON/);
  });
});

Deno.test("KMS client: a KMS that releases another key than the one asked for is at fault", async () => {
  await withKms(
    () => Response.json({ kid: 2, key: "AAAA", receipt: "{}" }),
    async (client) => {
      const released = await client.releaseKey({ kid: 1, token: "t", unwrap });
      assert.ok(E.isLeft(released));
      assert.equal(released.left._tag, "Internal");
      assert.match(released.left.message, /released key 2, not the requested 1/);
    },
  );
});

const notFound = () =>
  Response.json({ error: { code: "KeyNotFound", message: "no key 1" } }, { status: 404 });

Deno.test("KMS client: 202s are asked again until the answer comes", async () => {
  let asked = 0;
  await withKms(
    () =>
      ++asked < 4
        ? new Response(null, { status: 202, headers: { "retry-after": "0" } })
        : Response.json("not a listing"),
    async (client) => {
      const keys = await client.listKeys();
      assert.equal(asked, 4);
      assert.ok(E.isLeft(keys));
      assert.match(keys.left.message, /the \/listpubkeys answer/);
    },
  );
});

Deno.test("KMS client: a receipt that never comes fails once the retry budget is spent", async () => {
  let asked = 0;
  await withKms(
    () => (asked++, new Response(null, { status: 202, headers: { "retry-after": "0.05" } })),
    async (client) => {
      const keys = await client.listKeys();
      assert.ok(E.isLeft(keys));
      assert.equal(keys.left._tag, "ReceiptNotReady");
      assert.match(keys.left.message, /no receipt for \/listpubkeys yet \(still after 0.3 s\)/);
      assert.ok(asked >= 3, `asked ${asked} times`);
    },
    { retryForSeconds: 0.3 },
  );
});

Deno.test("KMS client: a released key that /pubkey does not know yet is asked for again", async () => {
  const asked: string[] = [];
  await withKms(
    (request) => {
      const { pathname } = new URL(request.url);
      asked.push(pathname);
      return pathname === "/app/key"
        ? Response.json({ kid: 1, key: "AAAA", receipt: "{}" })
        : notFound();
    },
    async (client) => {
      const released = await client.releaseKey({ kid: 1, token: "t", unwrap });
      assert.ok(E.isLeft(released));
      assert.equal(released.left._tag, "KeyNotFound");
      assert.match(released.left.message, /still after 1.5 s/);
      assert.equal(asked.filter((p) => p === "/app/key").length, 1);
      assert.ok(asked.filter((p) => p === "/app/pubkey").length >= 2);
    },
    { retryForSeconds: 1.5 },
  );
});

Deno.test("KMS client: other errors are answered at once, without asking again", async () => {
  let asked = 0;
  await withKms(() => (asked++, notFound()), async (client) => {
    const keys = await client.listKeys();
    assert.ok(E.isLeft(keys));
    assert.equal(keys.left._tag, "KeyNotFound");
    assert.equal(asked, 1);
  });
});

Deno.test("KMS client: an unreachable KMS is a Left after the budget, and is asked again", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  const client = createKmsClient({
    url: `https://127.0.0.1:${port}`,
    serviceCertPem: (await createReceiptIssuer()).serviceCertPem,
    retryForSeconds: 1.5,
  });
  try {
    const started = performance.now();
    const keys = await client.listKeys();
    assert.ok(E.isLeft(keys));
    assert.equal(keys.left._tag, "Internal");
    assert.match(keys.left.message, /cannot be reached: .*\(still after 1.5 s\)/);
    assert.ok(performance.now() - started >= 1000, "it waited before giving up");
  } finally {
    client.close();
  }
});
