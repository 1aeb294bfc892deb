import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { all, fail, flatMap, get, map, of, type Program, traverse } from "../../core/effects.ts";
import { internal } from "../../core/errors.ts";

/** Runs `program`, answering each Get with its key and counting the steps. */
const run = <A>(program: Program<A>) => {
  const asked: string[] = [];
  let p = program;
  while (p._tag === "Step") {
    const effect = p.effect;
    asked.push(effect._tag === "Get" ? effect.key : effect._tag);
    p = p.next(effect._tag === "Get" ? effect.decode(effect.key) : undefined);
  }
  return { result: p.result, asked };
};

const read = (key: string) => get("m", key, (s) => String(s).toUpperCase());

Deno.test("property: traverse performs each program in order and keeps their values", () => {
  fc.assert(fc.property(fc.array(fc.string({ maxLength: 4 })), (keys) => {
    const { result, asked } = run(traverse(keys, read));
    assert.deepEqual(asked, keys);
    assert.deepEqual(result, E.right(keys.map((k) => k.toUpperCase())));
  }));
});

Deno.test("property: flatMap is associative and `of` is its unit", () => {
  const f = (s: unknown) => read(`f${s}`);
  const g = (s: unknown) => map((t: unknown) => `${t}!`)(read(`g${s}`));
  fc.assert(fc.property(fc.string({ maxLength: 4 }), (k) => {
    const left = run(pipe(read(k), flatMap(f), flatMap(g)));
    const right = run(pipe(read(k), flatMap((a) => pipe(f(a), flatMap(g)))));
    assert.deepEqual(left, right);
    assert.deepEqual(run(pipe(of(k), flatMap(read))), run(read(k)));
  }));
});

Deno.test("an error ends a program: no later effect is asked for", () => {
  const { result, asked } = run(pipe(read("a"), flatMap(() => fail(internal("x"))), flatMap(read)));
  assert.deepEqual(asked, ["a"]);
  assert.ok(E.isLeft(result));
});

Deno.test("all gives the values by name, in the order of the record", () => {
  const { result, asked } = run(all({ one: read("a"), two: of(2), three: read("c") }));
  assert.deepEqual(asked, ["a", "c"]);
  assert.deepEqual(result, E.right({ one: "A", two: 2, three: "C" }));
});

Deno.test("traverse runs 10,000 programs one step each, without deep recursion", () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => String(i));
  const { result, asked } = run(pipe(traverse(keys, read), map((xs) => xs.length)));
  assert.equal(asked.length, 10_000);
  assert.deepEqual(result, E.right(10_000));
});
