import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { base64urlnopad } from "@scure/base";
import {
  checkJwtValidation,
  decodeJwtValidationArgs,
} from "../../../core/attestation/jwtValidation.ts";
import { wrappingKeyOf } from "../../../core/attestation/wrappingKey.ts";

const modulus = (bits: number, lastByte = 0xab) => {
  const bytes = new Uint8Array(Math.ceil(bits / 8)).fill(0xab);
  bytes[0] = 0x80 >> ((8 - bits % 8) % 8);
  bytes[bytes.length - 1] = lastByte;
  return base64urlnopad.encode(bytes);
};
const tpmKey = (bits: number, extra = {}) => ({
  kid: "TpmEphemeralEncryptionKey",
  kty: "RSA",
  n: modulus(bits),
  e: "AQAB",
  ...extra,
});
const token = (keys: unknown[]) => ({ "x-ms-runtime": { keys } });

Deno.test("wrapping key: the TPM RSA key is found among the runtime keys", () => {
  const key = tpmKey(2048);
  assert.deepEqual(
    wrappingKeyOf(
      token([{ kid: "other", kty: "RSA", n: "AQ", e: "AQAB" }, key]),
    ),
    E.right({ kty: "RSA", n: key.n, e: "AQAB" }),
  );
  assert.ok(E.isRight(wrappingKeyOf(token([tpmKey(4096)]))));
  assert.ok(E.isRight(wrappingKeyOf(token([tpmKey(8192)]))));
  assert.ok(E.isRight(wrappingKeyOf(token([tpmKey(2048, { e: "Aw" })]))));
  assert.ok(E.isRight(wrappingKeyOf(token([tpmKey(2048, { e: "AQAAAAAAAAE" })]))));
});

Deno.test("wrapping key: missing list, missing kid, non-RSA and short keys are refused", () => {
  const cases: [unknown, RegExp][] = [
    [{}, /no x-ms-runtime.keys/],
    [token([]), /no key with kid TpmEphemeralEncryptionKey/],
    [
      token([{ kid: "TpmEphemeralEncryptionKey", kty: "EC", crv: "P-256" }]),
      /must be an RSA/,
    ],
    [token([tpmKey(2047)]), /2047-bit RSA key/],
    [token([tpmKey(1024)]), /1024-bit/],
    [token([tpmKey(2048, { n: "***" })]), /not base64url/],
    [token([tpmKey(8193)]), /8193-bit RSA key; it must have 2048 to 8192 bits/],
    [token([tpmKey(2048, { n: modulus(2048, 0xaa) })]), /modulus is even/],
    [token([tpmKey(2048, { e: "!!" })]), /exponent/],
    [token([tpmKey(2048, { e: "" })]), /exponent/],
    [token([tpmKey(2048, { e: "AQ" })]), /exponent/],
    [token([tpmKey(2048, { e: "AAEAAQ" })]), /exponent/],
    [token([tpmKey(2048, { e: "AQAA" })]), /exponent/],
    [token([tpmKey(2048, { e: "AQAAAAAAAAAB" })]), /exponent/],
  ];
  for (const [payload, message] of cases) {
    const r = wrappingKeyOf(payload as Record<string, unknown>);
    assert.ok(E.isLeft(r));
    assert.equal(r.left._tag, "InvalidInput");
    assert.match(r.left.message, message);
  }
});

Deno.test("jwt validation: the seed's sample file and the plain argument decode alike", () => {
  const args = {
    issuer: "http://Demo-jwt-issuer",
    validation_policy: { iss: "http://Demo-jwt-issuer" },
  };
  assert.deepEqual(decodeJwtValidationArgs(args), E.right(args));
  assert.deepEqual(
    decodeJwtValidationArgs({ jwt_validation_policy: args }),
    E.right(args),
  );
  assert.ok(
    E.isLeft(decodeJwtValidationArgs({ issuer: "x", validation_policy: {} })),
  );
  assert.ok(
    E.isLeft(
      decodeJwtValidationArgs({ issuer: "x", validation_policy: { iss: 1 } }),
    ),
  );
});

Deno.test("jwt validation: every claim must match; no policy means refusal", () => {
  const policy = { iss: "https://maa", aud: ["a", "b"] };
  assert.ok(
    E.isRight(
      checkJwtValidation("i", policy, { iss: "https://maa", aud: "b" }),
    ),
  );
  const wrong = checkJwtValidation("i", policy, {
    iss: "https://evil",
    aud: "c",
  });
  assert.ok(E.isLeft(wrong) && wrong.left._tag === "Unauthenticated");
  assert.match(wrong.left.message, /claims iss, aud/);
  const none = checkJwtValidation("i", undefined, { iss: "https://maa" });
  assert.ok(E.isLeft(none));
  assert.match(none.left.message, /set_jwt_validation_policy/);
});
