import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { policyActions } from "../../../core/policy/governance.ts";
import { SEED_CHANGE, SEED_STORED_POLICY } from "../../fixtures/policies.ts";

Deno.test("set_key_release_policy: from an empty table to version 1, then 2", () => {
  const { transition } = policyActions.set_key_release_policy;
  const v1 = transition(undefined, SEED_CHANGE);
  assert.ok(E.isRight(v1));
  assert.equal(v1.right.version, 1);
  assert.deepEqual(v1.right, SEED_STORED_POLICY);
  const v2 = transition(v1.right, {
    type: "remove",
    claims: { "x-ms-azurevm-osversion-major": [23] },
  });
  assert.ok(E.isRight(v2) && v2.right.version === 2);
});

Deno.test("set_key_release_policy: a removal that empties a claim is refused, naming it", () => {
  const { transition } = policyActions.set_key_release_policy;
  const v1 = transition(undefined, SEED_CHANGE);
  assert.ok(E.isRight(v1));
  const r = transition(v1.right, { type: "remove", claims: { "x-ms-ver": ["1.0"] } });
  assert.ok(E.isLeft(r) && r.left._tag === "InvalidInput");
  assert.match(r.left.message, /x-ms-ver/);
});

Deno.test("settings and rotation replace the value and bump the version", () => {
  const rotation = policyActions.set_key_rotation_policy.transition(
    { version: 4, policy: { rotation_interval_seconds: 10, grace_period_seconds: 5 } },
    { key_rotation_policy: { rotation_interval_seconds: 300, grace_period_seconds: 60 } },
  );
  assert.deepEqual(
    rotation,
    E.right({ version: 5, policy: { rotation_interval_seconds: 300, grace_period_seconds: 60 } }),
  );
  const service = { name: "kms", description: "d", version: "2", debug: false };
  const settings = policyActions.set_settings_policy.transition(undefined, {
    settings_policy: service,
  });
  assert.deepEqual(settings, E.right({ version: 1, policy: { service } }));
});

Deno.test("a corrupt stored value is the service's fault; a bad argument the proposer's", () => {
  const corrupt = policyActions.set_key_rotation_policy.transition({ version: "x" }, {
    key_rotation_policy: { rotation_interval_seconds: 300, grace_period_seconds: 60 },
  });
  assert.ok(E.isLeft(corrupt) && corrupt.left._tag === "Internal");
  const bad = policyActions.set_key_rotation_policy.transition(undefined, {
    key_rotation_policy: {},
  });
  assert.ok(E.isLeft(bad) && bad.left._tag === "InvalidInput");
});

Deno.test("no action's version counter overflows into an undecodable stored value", () => {
  const rotation = policyActions.set_key_rotation_policy.transition(
    { version: 2 ** 32 - 1, policy: { rotation_interval_seconds: 10, grace_period_seconds: 5 } },
    { key_rotation_policy: { rotation_interval_seconds: 300, grace_period_seconds: 60 } },
  );
  assert.ok(E.isLeft(rotation) && rotation.left._tag === "Internal");
  assert.match(rotation.left.message, /version counter is exhausted/);
  const service = { name: "kms", description: "d", version: "2", debug: false };
  const settings = policyActions.set_settings_policy.transition(
    { version: 2 ** 32 - 1, policy: { service } },
    { settings_policy: service },
  );
  assert.ok(E.isLeft(settings) && settings.left._tag === "Internal");
});
