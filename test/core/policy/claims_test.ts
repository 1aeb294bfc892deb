import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import {
  claimAt,
  claimCatalogue,
  claimType,
  maxTokenClaims,
  TokenClaimsCodec,
} from "../../../core/policy/claims.ts";
import { claimName, valueOf, withClaim } from "./_harness.ts";

Deno.test("the catalogue types the claims of maa-claims.md, nested ones by dotted path", () => {
  assert.equal(claimType("x-ms-ver"), "string");
  assert.equal(claimType("x-ms-azurevm-debuggersdisabled"), "boolean");
  assert.equal(claimType("x-ms-azurevm-osversion-major"), "number");
  assert.equal(claimType("x-ms-azurevm-attested-pcrs"), "number[]");
  assert.equal(claimType("x-ms-isolation-tee.x-ms-sevsnpvm-hostdata"), "string");
  assert.equal(claimType("x-ms-isolation-tee.x-ms-sevsnpvm-vmpl"), "number");
  assert.equal(
    claimType("x-ms-azurevm-os-provisioning.os-image-identity.svn"),
    "number",
  );
  assert.equal(Object.keys(claimCatalogue).length, 52);
});

Deno.test("client payload claims form a family of one-segment string claims", () => {
  assert.equal(claimType("x-ms-runtime.client-payload.nonce"), "string");
  assert.equal(claimType("x-ms-runtime.client-payload."), undefined);
  assert.equal(claimType("x-ms-runtime.client-payload.a.b"), undefined);
  assert.equal(
    claimType(`x-ms-runtime.client-payload.${"n".repeat(1024)}`),
    undefined,
  );
});

Deno.test("unknown names, the wrapping keys and inherited properties have no type", () => {
  for (
    const name of [
      "x-ms-ver ",
      "x-ms-runtime.keys",
      "x-ms-azurevm-attested-pcrs.0",
      "iss",
      "constructor",
      "__proto__",
      "toString",
    ]
  ) {
    assert.equal(claimType(name), undefined, name);
  }
});

Deno.test("claimAt walks nested objects and nothing else", () => {
  const token = {
    "x-ms-isolation-tee": { "x-ms-sevsnpvm-hostdata": "ab" },
    "x-ms-azurevm-attested-pcrs": [0, 1],
    "x-ms-ver": "1.0",
  };
  assert.equal(claimAt(token, "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata"), "ab");
  assert.deepEqual(claimAt(token, "x-ms-azurevm-attested-pcrs"), [0, 1]);
  assert.equal(claimAt(token, "x-ms-azurevm-attested-pcrs.0"), undefined);
  assert.equal(claimAt(token, "x-ms-ver.length"), undefined);
  assert.equal(claimAt(token, "x-ms-isolation-tee.missing"), undefined);
  assert.equal(claimAt(token, "constructor"), undefined);
  assert.equal(claimAt(token, "x-ms-isolation-tee.constructor"), undefined);
  // A literal dotted key is not the nested claim: names are paths, never flattened keys.
  assert.equal(
    claimAt(
      { "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata": "ab" },
      "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata",
    ),
    undefined,
  );
});

Deno.test("property: claimAt reads back what a token holds at a path", () => {
  fc.assert(
    fc.property(
      claimName.chain((n) => fc.tuple(fc.constant(n), valueOf(n))),
      ([name, value]) => {
        assert.deepEqual(claimAt(withClaim({}, name, value), name), value);
      },
    ),
  );
});

Deno.test("token claims decode only from a bounded JSON object", () => {
  const ok = { "x-ms-ver": "1.0", nested: { a: 1 } };
  assert.deepEqual(TokenClaimsCodec.decode(ok), E.right(ok));
  for (const bad of [null, [], "x", 1, true, undefined]) {
    const r = TokenClaimsCodec.decode(bad);
    assert.ok(E.isLeft(r));
    assert.match(r.left[0].message ?? "", /JSON object of claims/);
  }
  const big = Object.fromEntries(
    Array.from({ length: maxTokenClaims + 1 }, (_, i) => [`c${i}`, i]),
  );
  const r = TokenClaimsCodec.decode(big);
  assert.ok(E.isLeft(r));
  assert.match(r.left[0].message ?? "", /more than 256 claims/);
});
