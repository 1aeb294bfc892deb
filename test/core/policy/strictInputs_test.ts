/** Governance arguments with a field the KMS does not know are refused, naming it. */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { decodeRotationArgs } from "../../../core/policy/rotation.ts";
import { decodeSettingsArgs } from "../../../core/policy/settings.ts";
import { decodeJwtValidationArgs } from "../../../core/attestation/jwtValidation.ts";

const refused = (r: E.Either<{ message: string }, unknown>, message: RegExp) => {
  assert.ok(E.isLeft(r), "expected a refusal");
  assert.match(r.left.message, message);
};

Deno.test("set_key_rotation_policy refuses unknown fields instead of dropping them", () => {
  const policy = { rotation_interval_seconds: 60, grace_period_seconds: 30 };
  assert.ok(E.isRight(decodeRotationArgs({ key_rotation_policy: policy })));
  refused(
    decodeRotationArgs({ key_rotation_policy: { ...policy, grace_periode_seconds: 5 } }),
    /unknown field\(s\) grace_periode_seconds \(expected rotation_interval_seconds, grace_period_seconds\)/,
  );
  refused(
    decodeRotationArgs({ key_rotation_policy: policy, extra: 1 }),
    /unknown field\(s\) extra/,
  );
});

Deno.test("set_settings_policy refuses unknown fields, in both of the seed's forms", () => {
  const service = { name: "kms", description: "d", version: "1", debug: false };
  assert.ok(E.isRight(decodeSettingsArgs({ settings_policy: { service } })));
  assert.ok(E.isRight(decodeSettingsArgs({ settings_policy: service })));
  refused(
    decodeSettingsArgs({ settings_policy: { service: { ...service, debgu: true } } }),
    /unknown field\(s\) debgu/,
  );
  refused(decodeSettingsArgs({ settings_policy: { ...service, colour: "red" } }), /colour/);
});

Deno.test("set_jwt_validation_policy refuses reserved and malformed claim names, saying which it accepts", () => {
  const ok = { issuer: "https://maa.example", validation_policy: { iss: "https://maa.example" } };
  assert.ok(E.isRight(decodeJwtValidationArgs(ok)));
  for (const name of ["__proto__", "constructor", "prototype", "has space", ""]) {
    const args = JSON.parse(
      JSON.stringify({ issuer: ok.issuer, validation_policy: { iss: ok.issuer } }).replace(
        '"iss":',
        `${JSON.stringify(name)}:`,
      ),
    );
    refused(decodeJwtValidationArgs(args), /claim names are 1 to 256 visible ASCII characters/);
  }
  refused(decodeJwtValidationArgs({ ...ok, extra: true }), /unknown field\(s\) extra/);
});
