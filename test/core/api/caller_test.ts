import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { describeCaller, jwtIssuerOf } from "../../../core/api/caller.ts";

const jwt = (iss: string) => ({
  policy: "jwt",
  jwt: { keyIssuer: "https://maa", header: {}, payload: { iss, nbf: 1, exp: 2, secret: "x" } },
});

Deno.test("describeCaller: certificates by id; tokens by issuer and times, never the payload", () => {
  assert.deepEqual(
    describeCaller({ policy: "member_cert", id: "ab", cert: "PEM" }, undefined),
    E.right({ policy: "member_cert", id: "ab" }),
  );
  assert.deepEqual(
    describeCaller(jwt("https://maa"), { iss: "https://maa" }),
    E.right({ policy: "jwt", issuer: "https://maa", iss: "https://maa", nbf: 1, exp: 2 }),
  );
  assert.equal(jwtIssuerOf(jwt("x")), "https://maa");
  assert.equal(jwtIssuerOf({ policy: "user_cert", id: "u" }), undefined);
});

Deno.test("describeCaller: a token its issuer's validation policy refuses, or no credentials, is 401", () => {
  for (
    const [caller, policy] of [[jwt("test"), { iss: "https://maa" }], [
      jwt("https://maa"),
      undefined,
    ], [null, undefined]] as const
  ) {
    const r = describeCaller(caller, policy);
    assert.ok(E.isLeft(r) && r.left._tag === "Unauthenticated");
  }
});
