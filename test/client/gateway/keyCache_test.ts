import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { keyNotFound, type KmsError } from "../../../core/errors.ts";
import { createKeyCache } from "../../../client/gateway/keyCache.ts";

/** A cache over a fetch that answers from `answers` by key id and counts its calls. */
const setup = (
  answers: Map<number, string>,
  options: { keyTtlMs?: number; failureTtlMs?: number } = {},
) => {
  let now = 0;
  const calls: number[] = [];
  const cache = createKeyCache<string>({
    fetch: (keyId) => {
      calls.push(keyId);
      const key = answers.get(keyId);
      return Promise.resolve(
        key === undefined ? E.left<KmsError>(keyNotFound(`no key ${keyId}`)) : E.right(key),
      );
    },
    keyTtlMs: options.keyTtlMs ?? 1000,
    failureTtlMs: options.failureTtlMs ?? 100,
    clock: () => now,
  });
  return { cache, calls, advance: (ms: number) => now += ms };
};

Deno.test("a key is fetched once and kept for its TTL", async () => {
  const { cache, calls, advance } = setup(new Map([[1, "k1"]]));
  assert.deepEqual(await cache.get(1), E.right("k1"));
  advance(999);
  assert.deepEqual(await cache.get(1), E.right("k1"));
  assert.deepEqual(calls, [1]);
  advance(1);
  assert.deepEqual(await cache.get(1), E.right("k1"));
  assert.deepEqual(calls, [1, 1], "fetched again once the TTL is over");
});

Deno.test("a failure is kept for the failure TTL, with the time of the next attempt", async () => {
  const answers = new Map<number, string>();
  const { cache, calls, advance } = setup(answers);
  advance(5000);
  const first = await cache.get(7);
  assert.ok(E.isLeft(first));
  assert.equal(first.left.error._tag, "KeyNotFound");
  assert.equal(first.left.retryAt, 5100);
  advance(99);
  assert.deepEqual(await cache.get(7), first);
  assert.deepEqual(calls, [7]);
  answers.set(7, "k7");
  advance(1);
  assert.deepEqual(await cache.get(7), E.right("k7"));
  assert.deepEqual(calls, [7, 7]);
});

Deno.test("concurrent lookups share one fetch, however long it takes", async () => {
  let release!: (value: E.Either<KmsError, string>) => void;
  let calls = 0;
  let now = 0;
  const cache = createKeyCache<string>({
    fetch: () => {
      calls++;
      return new Promise((resolve) => release = resolve);
    },
    keyTtlMs: 10,
    clock: () => now,
  });
  const lookups = [cache.get(3), cache.get(3)];
  now += 1000;
  lookups.push(cache.get(3));
  release(E.right("k3"));
  assert.deepEqual(await Promise.all(lookups), Array(3).fill(E.right("k3")));
  assert.equal(calls, 1);
});

Deno.test("a fetch that throws is a cached Internal failure, not a rejection", async () => {
  let calls = 0;
  const cache = createKeyCache<string>({
    fetch: () => {
      calls++;
      throw new TypeError("connection refused");
    },
    clock: () => 0,
  });
  const lookup = await cache.get(4);
  assert.ok(E.isLeft(lookup));
  assert.equal(lookup.left.error._tag, "Internal");
  assert.match(lookup.left.error.message, /key 4.*connection refused/);
  await cache.get(4);
  assert.equal(calls, 1);
});

Deno.test("key ids are cached separately, and clear forgets them all", async () => {
  const { cache, calls } = setup(new Map([[1, "k1"], [2, "k2"]]));
  assert.deepEqual(await cache.get(1), E.right("k1"));
  assert.deepEqual(await cache.get(2), E.right("k2"));
  await cache.get(1);
  assert.deepEqual(calls, [1, 2]);
  cache.clear();
  await cache.get(1);
  assert.deepEqual(calls, [1, 2, 1]);
});
