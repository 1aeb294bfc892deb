import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { flagParam, kidParam, parseQuery } from "../../../core/api/query.ts";

const kid = (q: string) => pipe(parseQuery(q), E.flatMap(kidParam));

Deno.test("kid: decimal 0..255 accepted, absent is undefined", () => {
  assert.deepEqual(kid(""), E.right(undefined));
  assert.deepEqual(kid("kid=0"), E.right(0));
  assert.deepEqual(kid("kid=255&encrypted=true"), E.right(255));
  assert.deepEqual(kid("encrypted=true&kid=%32%34"), E.right(24));
});

Deno.test("kid: every malformed form is refused with a message naming kid", () => {
  for (
    const q of [
      "kid=abc",
      "kid=-1",
      "kid=256",
      "kid=1e3",
      "kid=0x1",
      "kid=01",
      "kid=",
      "kid=1.0",
      "kid= 1",
      "kid=1&kid=2",
    ]
  ) {
    const r = kid(q);
    assert.ok(E.isLeft(r), q);
    assert.equal(r.left._tag, "InvalidInput");
    assert.match(r.left.message, /kid/);
  }
});

Deno.test("query: bad percent-encoding and oversized strings are refused", () => {
  assert.ok(E.isLeft(parseQuery("kid=%zz")));
  assert.ok(E.isLeft(parseQuery("a=" + "x".repeat(3000))));
});

Deno.test("flags: true, false or absent; anything else refused", () => {
  const flag = (q: string) => pipe(parseQuery(q), E.flatMap((p) => flagParam(p, "ifDue")));
  assert.deepEqual(flag("ifDue=true"), E.right(true));
  assert.deepEqual(flag("ifDue=false"), E.right(false));
  assert.deepEqual(flag(""), E.right(false));
  assert.ok(E.isLeft(flag("ifDue=1")));
});
