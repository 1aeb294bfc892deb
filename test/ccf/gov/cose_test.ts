import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import {
  certId,
  type CoseSign1,
  parseGovMessage,
  signGovMessage,
  verifyGovMessage,
} from "../../../ccf/gov/cose.ts";
import { newMember as member } from "./_harness.ts";

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

Deno.test("cose: a proposal as large as CCF's 1 MB request limit signs and verifies", async () => {
  const m = await member("member0");
  const large = new TextEncoder().encode(JSON.stringify({ actions: [], pad: "x".repeat(1 << 20) }));
  const parsed = parseGovMessage(signGovMessage(large, m, "proposal", 1)) as CoseSign1;
  assert.deepEqual(parsed.payload, large);
  assert.ok(verifyGovMessage(parsed, m.certPem));
});
