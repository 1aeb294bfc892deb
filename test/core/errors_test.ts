import assert from "node:assert/strict";
import {
  internal,
  invalidInput,
  keyExpired,
  keyIdsExhausted,
  keyNotFound,
  policyDenied,
  receiptNotReady,
  toHttp,
  unauthenticated,
} from "../../core/errors.ts";

Deno.test("toHttp maps every error to its documented status", () => {
  const cases = [
    [invalidInput("x"), 400],
    [unauthenticated("x"), 401],
    [policyDenied("x", []), 403],
    [keyNotFound("x"), 404],
    [keyExpired("x"), 410],
    [receiptNotReady("x"), 202],
    [keyIdsExhausted("x"), 409],
    [internal("x"), 500],
  ] as const;
  for (const [e, status] of cases) {
    assert.equal(toHttp(e).status, status);
    assert.equal(toHttp(e).body.error.code, e._tag);
    assert.equal(toHttp(e).body.error.message, "x");
  }
});

Deno.test("a policy denial carries every failed rule; a pending receipt says when to retry", () => {
  const failure = {
    claim: "x-ms-ver",
    rule: "claims",
    expected: ["1.0"],
    actual: "2.0",
  } as const;
  assert.deepEqual(
    toHttp(policyDenied("denied", [failure])).body.error.details,
    [failure],
  );
  assert.deepEqual(toHttp(receiptNotReady("wait", 3)).headers, {
    "retry-after": "3",
  });
});
