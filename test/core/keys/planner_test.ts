import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import * as O from "fp-ts/lib/Option.js";
import { keyToRelease, planRotation, type RotationMode } from "../../../core/keys/planner.ts";
import {
  isReleasable,
  type KeyRecord,
  keyState,
  newestActiveKey,
} from "../../../core/keys/record.ts";
import type { RotationPolicy } from "../../../core/policy/rotation.ts";

const policy: RotationPolicy = {
  rotation_interval_seconds: 100,
  grace_period_seconds: 50,
};

const rotate = (
  keys: KeyRecord[],
  p: RotationPolicy,
  now: number,
  mode: RotationMode = "always",
) => {
  const plan = planRotation(keys, p, now, mode);
  if (E.isRight(plan) && plan.right._tag === "Create") {
    keys.push(plan.right.key);
  }
  return plan;
};

Deno.test("a key is active until notAfter, in grace until releaseUntil, then expired", () => {
  const keys: KeyRecord[] = [];
  rotate(keys, policy, 1000);
  const [k] = keys;
  assert.deepEqual(k, {
    index: 0,
    keyId: 0,
    createdAt: 1000,
    notAfter: 1100,
    releaseUntil: 1150,
  });
  assert.equal(keyState(k, 1099), "active");
  assert.equal(keyState(k, 1100), "grace");
  assert.equal(keyState(k, 1149), "grace");
  assert.equal(keyState(k, 1150), "expired");
});

Deno.test("ifDue creates a key only when none is active, and says when the next is due", () => {
  const keys: KeyRecord[] = [];
  assert.equal(E.isRight(rotate(keys, policy, 0, "ifDue")) && keys.length, 1);
  assert.deepEqual(
    rotate(keys, policy, 99, "ifDue"),
    E.right({ _tag: "NotDue", dueAt: 100 }),
  );
  rotate(keys, policy, 100, "ifDue");
  assert.equal(keys.length, 2);
  assert.deepEqual(keys.map((k) => k.keyId), [0, 1]);
});

Deno.test("the planner refuses the 257th releasable key with a clear error", () => {
  const keys: KeyRecord[] = [];
  for (let i = 0; i < 256; i++) {
    assert.ok(E.isRight(rotate(keys, policy, i % 50)));
  }
  const refused = planRotation(keys, policy, 60, "always");
  assert.ok(E.isLeft(refused));
  assert.equal(refused.left._tag, "KeyIdsExhausted");
  assert.match(refused.left.message, /all 256 OHTTP key ids/);
  // Once the oldest key's grace period ends, its id is free again and is the one reused.
  const later = planRotation(keys, policy, 150, "always");
  assert.ok(E.isRight(later) && later.right._tag === "Create");
  assert.equal(later.right.key.keyId, 0);
  assert.equal(later.right.key.index, 256);
});

Deno.test("keyToRelease: newest key without kid, 404 for an unknown id, 410 past grace", () => {
  const keys: KeyRecord[] = [];
  assert.equal(
    E.isLeft(keyToRelease(keys, undefined, 0)) && "no keys",
    "no keys",
  );
  rotate(keys, policy, 0);
  rotate(keys, policy, 10);
  assert.deepEqual(keyToRelease(keys, undefined, 20), E.right(keys[1]));
  assert.deepEqual(keyToRelease(keys, 0, 120), E.right(keys[0]));
  const unknown = keyToRelease(keys, 7, 20);
  assert.ok(E.isLeft(unknown) && unknown.left._tag === "KeyNotFound");
  const expired = keyToRelease(keys, 0, 150);
  assert.ok(E.isLeft(expired) && expired.left._tag === "KeyExpired");
});

const step = fc.oneof(
  fc.record({ advance: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ mode: fc.constantFrom<RotationMode>("always", "ifDue") }),
);

Deno.test("property: over many rotations, no two releasable keys share an OHTTP key id", () => {
  let mostKeys = 0;
  fc.assert(
    fc.property(
      fc.record({
        rotation_interval_seconds: fc.integer({ min: 1, max: 200 }),
        grace_period_seconds: fc.integer({ min: 0, max: 400 }),
      }),
      fc.array(step, { minLength: 600, maxLength: 900 }),
      (p, steps) => {
        const keys: KeyRecord[] = [];
        let now = 0;
        for (const s of steps) {
          if ("advance" in s) now += s.advance;
          else {
            const plan = rotate(keys, p, now, s.mode);
            const live = keys.filter((k) => isReleasable(k, now));
            if (E.isLeft(plan)) {
              assert.equal(plan.left._tag, "KeyIdsExhausted");
              assert.equal(live.length, 256);
            } else if (plan.right._tag === "Create") {
              assert.deepEqual(
                keyToRelease(keys, plan.right.key.keyId, now),
                E.right(plan.right.key),
              );
            } else {
              assert.ok(O.isSome(newestActiveKey(keys, now)));
            }
            assert.equal(new Set(live.map((k) => k.keyId)).size, live.length);
          }
        }
        keys.forEach((k, i) => assert.equal(k.index, i));
        mostKeys = Math.max(mostKeys, keys.length);
      },
    ),
    { numRuns: 60 },
  );
  assert.ok(mostKeys > 256, `runs made at most ${mostKeys} keys`);
});
