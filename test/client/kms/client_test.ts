/**
 * The KMS client against a misbehaving KMS over pinned TLS: whatever the KMS answers, the client
 * answers a Left that blames the service, and never throws.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { createKmsClient } from "../../../client/kms/client.ts";
import { encodePem } from "@kms/sandbox";
import { createReceiptIssuer } from "../../fixtures/receipts.ts";

/** A KMS stand-in over HTTPS with the fixture's node certificate, answering with `handler`. */
const withKms = async (
  handler: (request: Request) => Response,
  run: (client: ReturnType<typeof createKmsClient>) => Promise<void>,
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
