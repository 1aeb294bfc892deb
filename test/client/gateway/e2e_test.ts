/**
 * End to end through the two scripts: `deno task ohttp` lists keys from a KMS over pinned TLS
 * (receipts verified), seals a request to `deno task gateway`, which gets the private key with a
 * token of the demo attestation issuer, unwraps it with the workspace's demo TPM key and forwards
 * to an echo target.
 *
 * The KMS here is a stand-in served over HTTPS with the receipt fixture's service and node
 * certificates: it speaks the KMS's wire contract (/listpubkeys, /app/key wrapped to the token's
 * TpmEphemeralEncryptionKey) but has no governance. Swapping it for the sandbox node is left until
 * the sandbox's governance (set_jwt_issuer, key release policy) can be driven from a test.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as E from "fp-ts/lib/Either.js";
import { base64 } from "@scure/base";
import { createLocalJWKSet, jwtVerify } from "jose";
import { utf8 } from "../../../core/bytes.ts";
import { wrappingKeyOf } from "../../../core/attestation/wrappingKey.ts";
import { encodePrivateKeyCbor } from "../../../core/keys/privateKeyCbor.ts";
import { encodePem, startAttestationIssuer } from "@kms/sandbox";
import type { ReleasedKey } from "../../../client/kms/client.ts";
import { createReceiptIssuer, leafFor, mintReceipt } from "../../fixtures/receipts.ts";
import { ask, errorCode, makeKey, type Served, startEchoTarget } from "./_harness.ts";

const script = (name: string) =>
  fileURLToPath(new URL(`../../../scripts/${name}.ts`, import.meta.url));

/** A KMS stand-in: the wire contract of /listpubkeys and /app/key over pinned TLS. */
interface FakeKms extends Served {
  readonly serviceCertPem: string;
  readonly keys: ReleasedKey[];
  /** Key ids asked for on /app/key, in order. */
  readonly releases: number[];
  /** Tokens presented, to check that no log shows them. */
  readonly tokens: string[];
}

const startFakeKms = async (idpUrl: string, issuer: string): Promise<FakeKms> => {
  const certificates = await createReceiptIssuer();
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", certificates.nodeKeys.privateKey),
  );
  const jwks = createLocalJWKSet(await (await fetch(`${idpUrl}/keys`)).json());
  const receiptOf = (key: ReleasedKey) =>
    JSON.stringify(mintReceipt(certificates, leafFor(utf8(key.publicKey))));
  const fail = (status: number, code: string, message: string) =>
    Response.json({ error: { code, message } }, { status });

  const kms: Omit<FakeKms, "url" | "close"> = {
    serviceCertPem: certificates.serviceCertPem,
    keys: [],
    releases: [],
    tokens: [],
  };
  const release = async (request: Request): Promise<Response> => {
    const kid = Number(new URL(request.url).searchParams.get("kid"));
    kms.releases.push(kid);
    const token = request.headers.get("authorization")?.replace(/^Bearer /, "") ?? "";
    kms.tokens.push(token);
    let payload;
    try {
      payload = (await jwtVerify(token, jwks, { issuer })).payload;
    } catch {
      return fail(401, "Unauthenticated", "the token does not verify");
    }
    const wrapping = wrappingKeyOf(payload);
    if (E.isLeft(wrapping)) return fail(400, "InvalidInput", wrapping.left.message);
    const key = kms.keys.find((k) => k.keyId === kid);
    if (!key) return fail(404, "KeyNotFound", `no key with id ${kid}`);
    const rsa = await crypto.subtle.importKey(
      "jwk",
      wrapping.right,
      { name: "RSA-OAEP", hash: "SHA-256" },
      false,
      ["encrypt"],
    );
    const cbor = new Uint8Array(encodePrivateKeyCbor(key.privateKey));
    const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: "RSA-OAEP" }, rsa, cbor));
    return Response.json({ kid, key: base64.encode(wrapped), receipt: receiptOf(key) });
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: certificates.nodeCertPem,
    key: encodePem("PRIVATE KEY", pkcs8),
    onListen: () => {},
  }, async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method === "GET" && pathname === "/listpubkeys") {
      return Response.json(
        kms.keys.map((k) => ({ publicKey: k.publicKey, receipt: receiptOf(k) })),
      );
    }
    if (request.method === "GET" && pathname === "/app/pubkey") {
      const kid = Number(new URL(request.url).searchParams.get("kid"));
      const key = kms.keys.find((k) => k.keyId === kid);
      return key
        ? Response.json({ id: kid, publicKey: key.publicKey, receipt: receiptOf(key) })
        : fail(404, "KeyNotFound", `no key with id ${kid}`);
    }
    if (request.method === "POST" && pathname === "/app/key") return await release(request);
    return fail(404, "NotFound", pathname);
  });
  return {
    ...kms,
    url: new URL(`https://127.0.0.1:${server.addr.port}`),
    close: () => server.shutdown(),
  };
};

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test({
  name: "deno task ohttp -> deno task gateway -> target, keys released by a KMS to the demo issuer",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const workspace = await Deno.makeTempDir({ prefix: "gateway-e2e-" });
    const idp = await startAttestationIssuer({ workspace, port: 0 });
    const target = startEchoTarget();
    const kms = await startFakeKms(idp.url, idp.issuer);
    const certPath = join(workspace, "service_cert.pem");
    await Deno.writeTextFile(certPath, kms.serviceCertPem);
    kms.keys.push(makeKey(1));

    const gateway = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        script("gateway"),
        ...["--target", target.url.href, "--kms", kms.url.href, "--service-cert", certPath],
        ...["--port", "0", "--idp", idp.url, "--workspace", workspace],
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = gateway.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const stderr = gateway.stderr;
    const ohttp = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        // A later --service-cert overrides this one.
        args: ["run", "-A", script("ohttp"), "--service-cert", certPath, ...args],
        env: { KMS_URL: kms.url.href },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
    };
    try {
      let banner = "";
      while (!banner.includes("Ctrl-C")) {
        const { value, done } = await output.read();
        if (done) assert.fail(`the gateway exited: ${banner}`);
        banner += value;
      }
      const url = banner.match(/listening on (http:\/\/127\.0\.0\.1:\d+\/score)/)?.[1];
      assert.ok(url, banner);

      const first = await ohttp(url, "--data", "hello gateway", "--path", "/v1/x");
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, "HTTP 200\nPOST /v1/x\nhello gateway\n");
      assert.match(first.stderr, /key 1 of the KMS, its receipt verified/);
      assert.equal(target.seen[0].body, "hello gateway");

      kms.keys.push(makeKey(2));
      const rotated = await ohttp(url.replace("/score", ""), "--data", "after rotation");
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(rotated.stderr, /key 2 of the KMS/);
      assert.equal(rotated.stdout, "HTTP 200\nPOST /\nafter rotation\n");
      assert.deepEqual(kms.releases, [1, 2]);

      const failing = await ohttp(url, "--path", "/v1?status=503", "--data", "busy");
      assert.equal(failing.code, 1);
      assert.equal(failing.stdout, "HTTP 503\nPOST /v1\nbusy\n");

      const unknown = makeKey(77);
      for (let i = 0; i < 2; i++) {
        const answer = await ask(new URL(url), unknown.config, "/", "x");
        assert.equal(answer.status, 422);
        assert.equal(errorCode(answer), "UnknownKeyId");
      }
      assert.deepEqual(kms.releases, [1, 2, 77], "the unknown key id's failure is cached");

      const other = await createReceiptIssuer({ serviceName: "Another service" });
      const otherCert = join(workspace, "other_cert.pem");
      await Deno.writeTextFile(otherCert, other.serviceCertPem);
      const seen = target.seen.length;
      const untrusted = await ohttp(url, "--data", "never sent", "--service-cert", otherCert);
      assert.equal(untrusted.code, 1);
      assert.match(untrusted.stderr, /could not be reached|no trusted key/);
      assert.equal(target.seen.length, seen, "nothing is sent without a trusted key");

      gateway.kill("SIGINT");
      let rest = "";
      for (let chunk = await output.read(); !chunk.done; chunk = await output.read()) {
        rest += chunk.value;
      }
      assert.equal((await gateway.status).code, 0);
      assert.match(rest, /key 1: released by the KMS/);
      assert.match(rest, /key 77: unavailable: KeyNotFound/);
      assert.match(rest, /stopped/);
      for (const secret of ["hello gateway", "after rotation", "/v1/x", ...kms.tokens]) {
        assert.ok(!rest.includes(secret), `the gateway's log shows ${secret.slice(0, 20)}`);
      }
      assert.equal(await new Response(stderr).text(), "", "the gateway reported no error");
    } finally {
      try {
        gateway.kill("SIGKILL");
      } catch {
        // Already stopped.
      }
      await gateway.status;
      await output.cancel().catch(() => {});
      await stderr.cancel().catch(() => {});
      await kms.close();
      await target.close();
      await idp.stop();
      await Deno.remove(workspace, { recursive: true });
    }
  },
});
