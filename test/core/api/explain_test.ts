import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { generateKeyPairSync } from "node:crypto";
import { explainRelease } from "../../../core/api/explain.ts";
import { decideRelease, type ReleaseRequest } from "../../../core/api/release.ts";
import { evaluate } from "../../../core/policy/keyRelease.ts";
import { wrappingKeyOf } from "../../../core/attestation/wrappingKey.ts";
import { policy, tokenFor } from "../policy/_harness.ts";

const issuer = "https://maa.example";
const tpm = {
  ...generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" }),
  kid: "TpmEphemeralEncryptionKey",
};
const key = (keyId: number, index: number) => ({
  index,
  keyId,
  createdAt: 0,
  notAfter: 100,
  releaseUntil: 200,
  publicKey: "00".repeat(106),
});

const request = fc.record({
  policy,
  now: fc.constantFrom(50, 150, 250),
  kid: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  withTpm: fc.boolean(),
  trusted: fc.boolean(),
}).chain((r) =>
  tokenFor(r.policy).map((claims): ReleaseRequest => ({
    kid: r.kid,
    issuer,
    claims: {
      ...claims,
      iss: issuer,
      ...(r.withTpm ? { "x-ms-runtime": { keys: [tpm] } } : {}),
    },
    jwtPolicy: r.trusted ? { iss: issuer } : undefined,
    releasePolicy: r.policy,
    keys: [key(1, 7), key(2, 8)],
    now: r.now,
  }))
);

Deno.test("property: an explanation agrees with /key's decision and with the policy's evaluation", () => {
  fc.assert(fc.property(request, (r) => {
    const explained = explainRelease(r, 3);
    const decision = decideRelease(r);
    assert.equal(explained.wouldRelease, E.isRight(decision));
    assert.equal(explained.decision.code, E.isLeft(decision) ? decision.left._tag : undefined);
    assert.equal(explained.policyVersion, 3);
    // The rules it lists as failed are exactly the ones a denial reports.
    const evaluated = evaluate(r.releasePolicy, r.claims);
    const failed = explained.rules.filter((rule) => !rule.passed).map(({ passed: _, ...f }) => f);
    if (E.isLeft(evaluated) && evaluated.left._tag === "PolicyDenied") {
      assert.deepEqual(failed, evaluated.left.failures);
    } else {
      assert.deepEqual(failed, []);
    }
    assert.equal(explained.wrappingKey.passed, E.isRight(wrappingKeyOf(r.claims)));
    assert.equal(explained.jwtValidation.passed, r.jwtPolicy !== undefined);
    if (explained.wouldRelease && E.isRight(decision)) {
      assert.ok("kid" in explained.key && explained.key.kid === decision.right.key.keyId);
    }
  }));
});
