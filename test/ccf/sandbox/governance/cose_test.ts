import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import {
  certId,
  type CoseSign1,
  parseGovMessage,
  signGovMessage,
  verifyGovMessage,
} from "../../../../ccf/sandbox/governance/cose.ts";

const member = async (name: string) => {
  const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = x509.PemConverter.encode(pkcs8.buffer, "PRIVATE KEY");
  return { certPem: cert.toString("pem"), keyPem };
};

const payload = new TextEncoder().encode('{"actions":[]}');

Deno.test("cose: a signed proposal parses with CCF's headers and verifies against its signer", async () => {
  const m = await member("member0");
  const bytes = signGovMessage(payload, m, "proposal", 1700000000);
  assert.equal(bytes[0], 0xd2);
  const parsed = parseGovMessage(bytes) as CoseSign1;
  assert.equal(typeof parsed, "object");
  assert.deepEqual(parsed.headers, {
    alg: -35,
    kid: certId(m.certPem),
    msgType: "proposal",
    createdAt: 1700000000,
  });
  assert.deepEqual(parsed.payload, payload);
  assert.ok(verifyGovMessage(parsed, m.certPem));
  const ballot = parseGovMessage(signGovMessage(payload, m, "ballot", 1, "abc")) as CoseSign1;
  assert.equal(ballot.headers.proposalId, "abc");
});

Deno.test("cose: another member's certificate, a changed payload or signature do not verify", async () => {
  const [m0, m1] = [await member("member0"), await member("member1")];
  const parsed = parseGovMessage(signGovMessage(payload, m0, "proposal", 1)) as CoseSign1;
  assert.equal(verifyGovMessage(parsed, m1.certPem), false);
  assert.equal(
    verifyGovMessage({ ...parsed, payload: new TextEncoder().encode("{}") }, m0.certPem),
    false,
  );
  const signature = parsed.signature.slice();
  signature[5] ^= 1;
  assert.equal(verifyGovMessage({ ...parsed, signature }, m0.certPem), false);
});

Deno.test("cose: malformed messages are described, never thrown", async () => {
  const m = await member("member0");
  const good = signGovMessage(payload, m, "proposal", 1);
  for (
    const bad of [
      new Uint8Array(0),
      Uint8Array.of(0xd2, 0x80),
      good.subarray(0, good.length - 3),
      new TextEncoder().encode("{}"),
    ]
  ) {
    assert.equal(typeof parseGovMessage(bad), "string");
  }
});

Deno.test("cose: SEC1 member keys, as CCF's sandbox writes them, sign too", async () => {
  const m = await member("member0");
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
  const sec1 = privateKey.export({ type: "sec1", format: "pem" }) as string;
  const bytes = signGovMessage(payload, { certPem: m.certPem, keyPem: sec1 }, "ballot", 5, "p1");
  const parsed = parseGovMessage(bytes) as CoseSign1;
  assert.equal(parsed.headers.alg, -35);
  // The key is not the certificate's, so the signature must not verify against it.
  assert.equal(verifyGovMessage(parsed, m.certPem), false);
});
