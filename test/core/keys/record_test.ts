import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import { KeyRing, keyState, nextStateChange, withNewKey } from "../../../core/keys/record.ts";

const key = (index: number, keyId: number) => ({
  index,
  keyId,
  createdAt: index,
  notAfter: index + 10,
  releaseUntil: index + 20,
  publicKey: "0".repeat(212),
});

Deno.test("key ring: a new key replaces the one that held its key id, and says which", () => {
  const ring = [key(0, 0), key(1, 1)];
  assert.deepEqual(withNewKey(ring, key(2, 2)), {
    ring: [key(0, 0), key(1, 1), key(2, 2)],
    replaced: undefined,
  });
  assert.deepEqual(withNewKey(ring, key(2, 0)), {
    ring: [key(1, 1), key(2, 0)],
    replaced: key(0, 0),
  });
});

Deno.test("key ring codec: ascending indexes, at most one key per key id", () => {
  assert.ok(E.isRight(KeyRing.decode([key(0, 0), key(1, 1)])));
  assert.ok(E.isLeft(KeyRing.decode([key(0, 0), key(1, 0)])));
  assert.ok(E.isLeft(KeyRing.decode([key(1, 1), key(0, 0)])));
  assert.ok(E.isLeft(KeyRing.decode([key(1, 1), key(1, 0)])));
  assert.ok(E.isLeft(KeyRing.decode([{ ...key(0, 0), publicKey: "xyz" }])));
});

Deno.test("property: every key keeps its state from now until the next state change, which changes one", () => {
  const time = fc.integer({ min: 0, max: 60 });
  const times = fc.record({ notAfter: time, releaseUntil: time });
  fc.assert(fc.property(fc.array(times, { maxLength: 6 }), time, (bounds, now) => {
    const keys = bounds.map((b, i) => ({ ...key(i, i), ...b }));
    const states = (t: number) => keys.map((k) => keyState(k, t));
    const next = nextStateChange(keys, now);
    for (let t = now; t < Math.min(next, 61); t++) assert.deepEqual(states(t), states(now));
    if (next !== Infinity) assert.notDeepEqual(states(next), states(now));
  }));
});
