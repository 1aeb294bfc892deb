import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import type { KmsError, PolicyFailure } from "../../../core/errors.ts";
import type { TokenClaims } from "../../../core/policy/claims.ts";
import {
  decodeStoredPolicy,
  emptyStoredPolicy,
  evaluate,
  type KeyReleasePolicy,
  StoredKeyReleasePolicyCodec,
} from "../../../core/policy/keyRelease.ts";
import { claimName, numberClaim, policy, tokenFor, valueOf } from "./_harness.ts";

const rules = (p: Partial<KeyReleasePolicy>): KeyReleasePolicy => ({
  claims: {},
  gte: {},
  gt: {},
  ...p,
});

const failuresOf = (
  p: KeyReleasePolicy,
  t: TokenClaims,
): readonly PolicyFailure[] => {
  const r = evaluate(p, t);
  return E.isLeft(r) && r.left._tag === "PolicyDenied" ? r.left.failures : [];
};

const denial = (p: KeyReleasePolicy, t: TokenClaims): KmsError => {
  const r = evaluate(p, t);
  assert.ok(E.isLeft(r), "expected a denial");
  assert.equal(r.left._tag, "PolicyDenied");
  return r.left;
};

Deno.test("an empty policy denies every token: no key release policy is set", () => {
  const e = denial(emptyStoredPolicy.policy, { "x-ms-ver": "1.0" });
  assert.match(e.message, /no key release policy is set/);
});

Deno.test("a token satisfying every rule is released", () => {
  const p = rules({
    claims: { "x-ms-ver": ["1.0"], "x-ms-azurevm-debuggersdisabled": [true] },
    gte: { "x-ms-azurevm-osversion-major": 22 },
  });
  assert.deepEqual(
    evaluate(p, {
      "x-ms-ver": "1.0",
      "x-ms-azurevm-debuggersdisabled": true,
      "x-ms-azurevm-osversion-major": 23,
    }),
    E.right({ rulesChecked: 3 }),
  );
});

Deno.test("a denial lists every failed rule; a failing gte is not hidden by a passing gt", () => {
  const p = rules({
    claims: { "x-ms-ver": ["1.0"], "x-ms-azurevm-debuggersdisabled": [true] },
    gte: { "x-ms-azurevm-osversion-major": 22 },
    gt: { "x-ms-azurevm-osversion-major": 20 },
  });
  const e = denial(p, {
    "x-ms-ver": "2.0",
    "x-ms-azurevm-debuggersdisabled": false,
    "x-ms-azurevm-osversion-major": 21,
  });
  assert.deepEqual(e._tag === "PolicyDenied" && e.failures, [
    { claim: "x-ms-ver", rule: "claims", expected: ["1.0"], actual: "2.0" },
    {
      claim: "x-ms-azurevm-debuggersdisabled",
      rule: "claims",
      expected: [true],
      actual: false,
    },
    {
      claim: "x-ms-azurevm-osversion-major",
      rule: "gte",
      expected: 22,
      actual: 21,
    },
  ]);
  assert.match(e.message, /x-ms-ver must be one of \["1.0"\] but is "2.0"/);
  assert.match(e.message, /x-ms-azurevm-osversion-major must be a number >= 22/);
});

Deno.test("a missing claim fails every rule on it with actual null, and the message says missing", () => {
  const p = rules({
    claims: { "x-ms-azurevm-osversion-major": [22] },
    gte: { "x-ms-azurevm-osversion-major": 22 },
    gt: { "x-ms-azurevm-osversion-major": 21 },
  });
  const e = denial(p, {});
  assert.deepEqual(
    e._tag === "PolicyDenied" && e.failures.map((f) => [f.rule, f.actual]),
    [["claims", null], ["gte", null], ["gt", null]],
  );
  assert.match(e.message, /is missing/);
});

Deno.test("values compare by JSON type, never by their string form", () => {
  const p = rules({ claims: { "x-ms-azurevm-osversion-major": [22] } });
  assert.ok(E.isLeft(evaluate(p, { "x-ms-azurevm-osversion-major": "22" })));
  assert.ok(E.isRight(evaluate(p, { "x-ms-azurevm-osversion-major": 22 })));
  const s = rules({ claims: { "x-ms-ver": ["1"] } });
  assert.ok(E.isLeft(evaluate(s, { "x-ms-ver": 1 })));
  const b = rules({ claims: { "x-ms-azurevm-debuggersdisabled": [true] } });
  assert.ok(E.isLeft(evaluate(b, { "x-ms-azurevm-debuggersdisabled": "true" })));
  assert.ok(E.isLeft(evaluate(b, { "x-ms-azurevm-debuggersdisabled": 1 })));
  const arr = rules({ claims: { "x-ms-azurevm-attested-pcrs": [[1]] } });
  assert.ok(E.isLeft(evaluate(arr, { "x-ms-azurevm-attested-pcrs": ["1"] })));
  assert.ok(E.isLeft(evaluate(arr, { "x-ms-azurevm-attested-pcrs": "1" })));
  for (const field of ["gte", "gt"] as const) {
    const t = rules({ [field]: { "x-ms-azurevm-osversion-major": 21 } });
    const e = denial(t, { "x-ms-azurevm-osversion-major": "22" });
    assert.deepEqual(e._tag === "PolicyDenied" && e.failures[0].actual, "22");
    assert.match(e.message, /but is "22"/);
  }
});

Deno.test("nested claims are read through their dotted path", () => {
  const p = rules({
    claims: {
      "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata": ["ab12"],
      "x-ms-isolation-tee.x-ms-compliance-status": ["azure-compliant-cvm"],
    },
    gte: { "x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn": 8 },
  });
  const tee = {
    "x-ms-sevsnpvm-hostdata": "ab12",
    "x-ms-compliance-status": "azure-compliant-cvm",
    "x-ms-sevsnpvm-snpfw-svn": 8,
  };
  assert.ok(E.isRight(evaluate(p, { "x-ms-isolation-tee": tee })));
  const e = denial(p, {
    "x-ms-isolation-tee": { ...tee, "x-ms-sevsnpvm-hostdata": "cd34" },
  });
  assert.deepEqual(e._tag === "PolicyDenied" && e.failures, [{
    claim: "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata",
    rule: "claims",
    expected: ["ab12"],
    actual: "cd34",
  }]);
  // Flattened keys do not count as the nested claim.
  assert.ok(E.isLeft(evaluate(p, {
    "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata": "ab12",
    "x-ms-isolation-tee.x-ms-compliance-status": "azure-compliant-cvm",
    "x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn": 8,
  })));
});

Deno.test("an array claim passes when the token's array contains every element of one allowed value", () => {
  const pcrs = Array.from({ length: 16 }, (_, i) => i);
  const p = rules({ claims: { "x-ms-azurevm-attested-pcrs": [pcrs, [20]] } });
  const at = (v: unknown) => ({ "x-ms-azurevm-attested-pcrs": v });
  assert.ok(E.isRight(evaluate(p, at(pcrs))));
  assert.ok(E.isRight(evaluate(p, at([...pcrs].reverse()))));
  assert.ok(E.isRight(evaluate(p, at([...pcrs, 16, 17]))));
  assert.ok(E.isRight(evaluate(p, at([20, 21]))));
  const e = denial(p, at(pcrs.slice(1)));
  assert.match(e.message, /attested-pcrs must contain every element of one of \[\[0,1,/);
  assert.ok(E.isLeft(evaluate(p, at([]))));
  assert.ok(E.isLeft(evaluate(p, at(0))));
  assert.ok(E.isLeft(evaluate(p, {})));
  const any = rules({ claims: { "x-ms-azurevm-attested-pcrs": [[]] } });
  assert.ok(E.isRight(evaluate(any, at([]))));
  assert.ok(E.isLeft(evaluate(any, at({}))));
});

Deno.test("property: gte and gt at and around the threshold, alone and together", () => {
  fc.assert(
    fc.property(
      numberClaim,
      fc.integer({ min: -5, max: 5 }),
      fc.integer({ min: -5, max: 5 }),
      fc.integer({ min: -5, max: 5 }),
      (claim, n, lo, hi) => {
        const t = { ...nest(claim, n) };
        const gte = rules({ gte: { [claim]: lo } });
        const gt = rules({ gt: { [claim]: hi } });
        const both = rules({ gte: { [claim]: lo }, gt: { [claim]: hi } });
        assert.equal(E.isRight(evaluate(gte, t)), n >= lo);
        assert.equal(E.isRight(evaluate(gt, t)), n > hi);
        assert.equal(E.isRight(evaluate(both, t)), n >= lo && n > hi);
        assert.deepEqual(
          failuresOf(both, t).map((f) => f.rule),
          [...(n >= lo ? [] : ["gte"]), ...(n > hi ? [] : ["gt"])],
        );
        if (n === lo) assert.ok(E.isRight(evaluate(gte, t)));
        if (n === hi) assert.ok(E.isLeft(evaluate(gt, t)));
      },
    ),
  );
});

const nest = (claim: string, value: unknown): TokenClaims =>
  claim.split(".").reduceRight<unknown>(
    (inner, step) => ({ [step]: inner }),
    value,
  ) as TokenClaims;

const policyAndToken = policy.chain((p) => fc.tuple(fc.constant(p), tokenFor(p)));

Deno.test("property: adding an allowed value never turns a release into a denial", () => {
  const case_ = policyAndToken
    .filter(([p]) => Object.keys(p.claims).length > 0)
    .chain(([p, t]) =>
      fc.constantFrom(...Object.keys(p.claims)).chain((name) =>
        fc.tuple(fc.constant(p), fc.constant(t), fc.constant(name), valueOf(name))
      )
    );
  fc.assert(
    fc.property(case_, ([p, t, name, v]) => {
      const wider = {
        ...p,
        claims: { ...p.claims, [name]: [...p.claims[name], v] },
      };
      if (E.isRight(evaluate(p, t))) assert.ok(E.isRight(evaluate(wider, t)));
      // Widening can only remove failures.
      assert.ok(failuresOf(wider, t).length <= failuresOf(p, t).length);
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: adding a rule never turns a denial into a release", () => {
  const rule = fc.oneof(
    claimName.chain((n) => fc.tuple(fc.constant("claims" as const), fc.constant(n), valueOf(n))),
    fc.tuple(
      fc.constantFrom("gte" as const, "gt" as const),
      numberClaim,
      fc.integer({ min: 18, max: 26 }),
    ),
  );
  fc.assert(
    fc.property(policyAndToken, rule, ([p, t], [field, name, v]) => {
      fc.pre(!(name in p[field])); // only a new rule is a constraint
      // The law is about constraints: an empty policy denies for want of any rule, and its first
      // rule is what makes release possible at all (tested on its own above).
      fc.pre(Object.keys({ ...p.claims, ...p.gte, ...p.gt }).length > 0);
      const stricter = {
        ...p,
        [field]: { ...p[field], [name]: field === "claims" ? [v] : v },
      };
      if (E.isLeft(evaluate(p, t))) assert.ok(E.isLeft(evaluate(stricter, t)));
      const after = failuresOf(stricter, t);
      for (const f of failuresOf(p, t)) {
        assert.ok(after.some((g) => g.claim === f.claim && g.rule === f.rule));
      }
    }),
    { numRuns: 300 },
  );
});

const singleRules = (p: KeyReleasePolicy) => [
  ...Object.entries(p.claims).map(([c, v]) =>
    ["claims", c, rules({ claims: { [c]: v } })] as const
  ),
  ...Object.entries(p.gte).map(([c, v]) => ["gte", c, rules({ gte: { [c]: v } })] as const),
  ...Object.entries(p.gt).map(([c, v]) => ["gt", c, rules({ gt: { [c]: v } })] as const),
];

Deno.test("property: a policy's failures are exactly the rules that fail alone", () => {
  fc.assert(
    fc.property(policyAndToken, ([p, t]) => {
      const alone = singleRules(p);
      const failing = alone.filter(([, , q]) => E.isLeft(evaluate(q, t)));
      const r = evaluate(p, t);
      if (alone.length === 0) return assert.ok(E.isLeft(r));
      assert.deepEqual(
        failuresOf(p, t).map((f) => [f.rule, f.claim]),
        failing.map(([rule, claim]) => [rule, claim]),
      );
      assert.deepEqual(
        E.isRight(r) ? r.right : failing.length > 0,
        failing.length === 0 ? { rulesChecked: alone.length } : true,
      );
    }),
  );
});

Deno.test("the stored policy codec round-trips normalised values and accepts the seed's form", () => {
  fc.assert(
    fc.property(policy, fc.nat({ max: 1000 }), (p, version) => {
      const stored = { version, policy: p };
      assert.deepEqual(StoredKeyReleasePolicyCodec.decode(stored), E.right(stored));
      assert.ok(StoredKeyReleasePolicyCodec.is(stored));
      assert.deepEqual(
        StoredKeyReleasePolicyCodec.encode(stored),
        stored,
      );
    }),
  );
  assert.deepEqual(
    decodeStoredPolicy({
      version: 3,
      policy: {
        claims: { "x-ms-azurevm-debuggersdisabled": true },
        gte: { "x-ms-azurevm-osversion-major": "22" },
      },
    }),
    E.right({
      version: 3,
      policy: {
        claims: { "x-ms-azurevm-debuggersdisabled": [true] },
        gte: { "x-ms-azurevm-osversion-major": 22 },
        gt: {},
      },
    }),
  );
});

Deno.test("the stored policy codec rejects what no accepted change can produce", () => {
  const bad: [unknown, RegExp][] = [
    [null, /stored policy must be an object/],
    [{ version: -1, policy: { claims: {} } }, /version must be an integer/],
    [{ version: 1.5, policy: { claims: {} } }, /version must be an integer/],
    [
      { version: 1, policy: { claims: { "x-ms-ver": [] } } },
      /claims.x-ms-ver lists no allowed value/,
    ],
    [{ version: 1, policy: { claims: { "x-ms-nope": ["a"] } } }, /unknown claim "x-ms-nope"/],
    [{ version: 1, policy: { claims: {}, extra: 1 } }, /unknown field\(s\) extra/],
    [{ version: 1, policy: { claims: {} }, more: 1 }, /unknown field\(s\) more/],
    [{ version: 1 }, /policy must be an object/],
  ];
  for (const [input, message] of bad) {
    const r = decodeStoredPolicy(input);
    assert.ok(E.isLeft(r), JSON.stringify(input));
    assert.equal(r.left._tag, "InvalidInput");
    assert.match(r.left.message, message);
  }
  assert.equal(
    StoredKeyReleasePolicyCodec.is({ version: 0, policy: { claims: {} } }),
    false,
  );
});
