import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { decodeRotationArgs } from "../../../core/policy/rotation.ts";
import { decodeSettingsArgs } from "../../../core/policy/settings.ts";

const service = {
  name: "custom-kms",
  description: "Custom KMS",
  version: "2.1.0",
  debug: true,
};

Deno.test("settings: the seed's nested and flat forms decode to the same settings", () => {
  assert.deepEqual(
    decodeSettingsArgs({ settings_policy: { service } }),
    E.right({ service }),
  );
  assert.deepEqual(
    decodeSettingsArgs({ settings_policy: service }),
    E.right({ service }),
  );
});

Deno.test("settings: a wrong type or a missing field is refused with the field named", () => {
  const bad = decodeSettingsArgs({
    settings_policy: { service: { ...service, debug: "yes" } },
  });
  assert.ok(E.isLeft(bad) && bad.left._tag === "InvalidInput");
  assert.match(bad.left.message, /debug/);
  assert.ok(E.isLeft(decodeSettingsArgs({})));
});

Deno.test("settings: a refusal quotes an overlong value shortened, not whole", () => {
  const name = "n".repeat(100_000);
  const bad = decodeSettingsArgs({ settings_policy: { service: { ...service, name } } });
  assert.ok(E.isLeft(bad) && bad.left._tag === "InvalidInput");
  assert.match(bad.left.message, /name/);
  assert.ok(bad.left.message.length < 1000, `${bad.left.message.length} characters`);
});

Deno.test("rotation policy: seed form accepted; out-of-bounds and fractional values refused", () => {
  const ok = { rotation_interval_seconds: 300, grace_period_seconds: 60 };
  assert.deepEqual(
    decodeRotationArgs({ key_rotation_policy: ok }),
    E.right(ok),
  );
  for (
    const bad of [
      { ...ok, rotation_interval_seconds: 0 },
      { ...ok, rotation_interval_seconds: 1.5 },
      { ...ok, grace_period_seconds: -1 },
      { ...ok, grace_period_seconds: 10 ** 9 },
      { ...ok, grace_period_seconds: "60" },
    ]
  ) {
    const r = decodeRotationArgs({ key_rotation_policy: bad });
    assert.ok(E.isLeft(r), JSON.stringify(bad));
    assert.match(
      r.left.message,
      /rotation_interval_seconds|grace_period_seconds/,
    );
  }
});
