import assert from "node:assert/strict";
import fc from "fast-check";
import * as E from "fp-ts/lib/Either.js";
import { maxPolicyVersion } from "../../../core/codec.ts";
import type { KmsError } from "../../../core/errors.ts";
import {
  emptyStoredPolicy,
  evaluate,
  type KeyReleasePolicy,
  type StoredKeyReleasePolicy,
  StoredKeyReleasePolicyCodec,
} from "../../../core/policy/keyRelease.ts";
import {
  applyChange,
  decodeKeyReleaseChange,
  type KeyReleaseChange,
  KeyReleaseChangeCodec,
} from "../../../core/policy/keyReleaseChange.ts";
import { claimType } from "../../../core/policy/claims.ts";
import { hasValue, limits } from "../../../core/policy/rules.ts";
import { change, policy, storedOf, valuesOf } from "./_harness.ts";
import { SEED_CHANGE, SEED_STORED_POLICY } from "../../fixtures/policies.ts";

const decoded = (u: unknown): KeyReleaseChange => {
  const r = decodeKeyReleaseChange(u);
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

const applied = (
  s: StoredKeyReleasePolicy,
  u: unknown,
): StoredKeyReleasePolicy => {
  const r = applyChange(s, decoded(u));
  if (E.isLeft(r)) throw new Error(r.left.message);
  return r.right;
};

const rejected = (r: E.Either<KmsError, unknown>, message: RegExp) => {
  assert.ok(E.isLeft(r), "expected a rejection");
  assert.equal(r.left._tag, "InvalidInput");
  assert.match(r.left.message, message);
};

const demoToken = (osMajor: number) => ({
  "x-ms-ver": "1.0",
  "x-ms-azurevm-debuggersdisabled": true,
  "x-ms-azurevm-osversion-major": osMajor,
  "x-ms-runtime": {
    keys: [{ kid: "TpmEphemeralEncryptionKey", kty: "RSA", e: "AQAB", n: "x" }],
  },
  iss: "http://Demo-jwt-issuer",
});

Deno.test("seed example: the add proposal is normalised, stored as version 1 and releases to the demo token", () => {
  const stored = applied(emptyStoredPolicy, SEED_CHANGE);
  assert.deepEqual(stored, SEED_STORED_POLICY);
  assert.deepEqual(evaluate(stored.policy, demoToken(22)), E.right({ rulesChecked: 5 }));
});

Deno.test("seed example: osversion-major 21 is denied with the claims, gte and gt failures", () => {
  const stored = applied(emptyStoredPolicy, SEED_CHANGE);
  const r = evaluate(stored.policy, demoToken(21));
  assert.ok(E.isLeft(r) && r.left._tag === "PolicyDenied");
  assert.deepEqual(r.left.failures, [
    {
      claim: "x-ms-azurevm-osversion-major",
      rule: "claims",
      expected: [22, 23],
      actual: 21,
    },
    { claim: "x-ms-azurevm-osversion-major", rule: "gte", expected: 22, actual: 21 },
    { claim: "x-ms-azurevm-osversion-major", rule: "gt", expected: 21, actual: 21 },
  ]);
});

Deno.test("the change codec normalises the seed's loose forms", () => {
  assert.deepEqual(
    decoded({
      type: "remove",
      claims: {
        "x-ms-azurevm-osversion-major": ["22", 22, "2.2e1"],
        "x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable": false,
        "x-ms-azurevm-attested-pcrs": [[3, 1, 2, 1], [1, 2, 3]],
      },
      gte: { "x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn": "-1.5" },
    }),
    {
      type: "remove",
      claims: {
        "x-ms-azurevm-osversion-major": [22],
        "x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable": [false],
        "x-ms-azurevm-attested-pcrs": [[1, 2, 3]],
      },
      gte: { "x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn": -1.5 },
      gt: {},
    },
  );
  // `is` holds only for the normalised form.
  assert.equal(KeyReleaseChangeCodec.is(SEED_CHANGE), false);
  assert.ok(KeyReleaseChangeCodec.is(decoded(SEED_CHANGE)));
  // Numeral strings stay strings for string claims.
  assert.deepEqual(decoded({ type: "add", claims: { "x-ms-ver": "22" } }).claims, {
    "x-ms-ver": ["22"],
  });
});

Deno.test("the change codec names the claim or field at fault", () => {
  const cases: [unknown, RegExp][] = [
    [[], /must be an object/],
    [{ type: "set", claims: { "x-ms-ver": "1" } }, /type must be "add" or "remove", got "set"/],
    [{ claims: { "x-ms-ver": "1" } }, /type must be "add" or "remove", got missing/],
    [{ type: "add", claims: { "x-ms-ver": "1" }, gtee: {} }, /unknown field\(s\) gtee/],
    [{ type: "add", claims: { "x-ms-vr": ["1.0"] } }, /claims: unknown claim "x-ms-vr"/],
    [{ type: "add", claims: { "x-ms-runtime.keys": ["k"] } }, /unknown claim "x-ms-runtime.keys"/],
    [{ type: "add", claims: { "x-ms-azurevm-attested-pcrs.0": [0] } }, /unknown claim/],
    [{ type: "add", claims: { "x-ms-ver": [1] } }, /claims.x-ms-ver\[0\] must be a string/],
    [
      { type: "add", claims: { "x-ms-azurevm-debuggersdisabled": ["true"] } },
      /debuggersdisabled\[0\] must be a boolean, got "true"/,
    ],
    [
      { type: "add", claims: { "x-ms-azurevm-osversion-major": ["22x"] } },
      /osversion-major\[0\] must be a number, got "22x"/,
    ],
    [{ type: "add", claims: { "x-ms-azurevm-osversion-major": [" 22"] } }, /must be a number/],
    [{ type: "add", claims: { "x-ms-azurevm-osversion-major": ["1e999"] } }, /must be a number/],
    [
      { type: "add", claims: { "x-ms-azurevm-attested-pcrs": [0, 1, 2] } },
      /attested-pcrs must be a list of arrays/,
    ],
    [
      { type: "add", claims: { "x-ms-azurevm-attested-pcrs": [["0"]] } },
      /attested-pcrs\[0\] must be an array of at most 64 numbers/,
    ],
    [{ type: "add", claims: { "x-ms-ver": [] } }, /claims.x-ms-ver lists no allowed value/],
    [
      { type: "add", gte: { "x-ms-ver": 1 } },
      /gte.x-ms-ver: gte applies only to number claims; x-ms-ver is a string claim/,
    ],
    [{ type: "add", gt: { "x-ms-azurevm-attested-pcrs": 1 } }, /gt applies only to number claims/],
    [
      { type: "add", gte: { "x-ms-azurevm-osversion-major": [22] } },
      /gte.x-ms-azurevm-osversion-major must be a single number, not an array/,
    ],
    [
      { type: "add", gt: { "x-ms-azurevm-osversion-major": true } },
      /gt.x-ms-azurevm-osversion-major must be a number/,
    ],
    [{ type: "add", claims: [] }, /claims must be an object keyed by claim name/],
    [{ type: "add" }, /the change lists no rule/],
    [{ type: "remove", claims: {}, gte: {}, gt: {} }, /the change lists no rule/],
  ];
  for (const [input, message] of cases) {
    rejected(decodeKeyReleaseChange(input), message);
  }
});

Deno.test("the change codec bounds every size", () => {
  const many = (n: number) =>
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`x-ms-runtime.client-payload.k${i}`, "v"]),
    );
  assert.ok(E.isRight(decodeKeyReleaseChange({ type: "add", claims: many(limits.claims) })));
  rejected(
    decodeKeyReleaseChange({ type: "add", claims: many(limits.claims + 1) }),
    /claims names more than 64 claims/,
  );
  const values = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);
  assert.ok(E.isRight(decodeKeyReleaseChange({ type: "add", claims: { "x-ms-ver": values(64) } })));
  rejected(
    decodeKeyReleaseChange({ type: "add", claims: { "x-ms-ver": values(65) } }),
    /claims.x-ms-ver lists more than 64 values/,
  );
  assert.ok(
    E.isRight(decodeKeyReleaseChange({ type: "add", claims: { "x-ms-ver": "a".repeat(1024) } })),
  );
  rejected(
    decodeKeyReleaseChange({ type: "add", claims: { "x-ms-ver": "a".repeat(1025) } }),
    /must be a string of at most 1024 characters/,
  );
  rejected(
    decodeKeyReleaseChange({
      type: "add",
      claims: { "x-ms-azurevm-attested-pcrs": [Array.from({ length: 65 }, (_, i) => i)] },
    }),
    /at most 64 numbers/,
  );
});

Deno.test("untrusted claim names cannot reach prototypes", () => {
  const input = JSON.parse(
    '{"type":"add","claims":{"__proto__":["x"],"constructor":["y"]}}',
  );
  rejected(decodeKeyReleaseChange(input), /unknown claim "__proto__".*unknown claim "constructor"/);
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

Deno.test("add merges without duplicates, arrays compared as sets; thresholds are set", () => {
  const s1 = applied(emptyStoredPolicy, {
    type: "add",
    claims: { "x-ms-ver": ["1.0"], "x-ms-azurevm-attested-pcrs": [[0, 1]] },
    gte: { "x-ms-azurevm-osversion-major": 22 },
  });
  const s2 = applied(s1, {
    type: "add",
    claims: { "x-ms-ver": ["1.0", "2.0"], "x-ms-azurevm-attested-pcrs": [[1, 0], [7]] },
    gte: { "x-ms-azurevm-osversion-major": 24 },
  });
  assert.deepEqual(s2, {
    version: 2,
    policy: {
      claims: { "x-ms-ver": ["1.0", "2.0"], "x-ms-azurevm-attested-pcrs": [[0, 1], [7]] },
      gte: { "x-ms-azurevm-osversion-major": 24 },
      gt: {},
    },
  });
});

Deno.test("add rejects a merge beyond the bounds", () => {
  const full = applied(emptyStoredPolicy, {
    type: "add",
    claims: { "x-ms-ver": Array.from({ length: 64 }, (_, i) => `v${i}`) },
  });
  rejected(
    applyChange(full, decoded({ type: "add", claims: { "x-ms-ver": "one-more" } })),
    /claims.x-ms-ver would allow more than 64 values/,
  );
  const wide = applied(emptyStoredPolicy, {
    type: "add",
    claims: Object.fromEntries(
      Array.from({ length: 64 }, (_, i) => [`x-ms-runtime.client-payload.k${i}`, "v"]),
    ),
  });
  rejected(
    applyChange(wide, decoded({ type: "add", claims: { "x-ms-ver": "1.0" } })),
    /claims rules for more than 64 claims/,
  );
});

Deno.test("remove takes values out and never silently widens", () => {
  const s1 = applied(emptyStoredPolicy, SEED_CHANGE);
  const s2 = applied(s1, {
    type: "remove",
    claims: { "x-ms-azurevm-osversion-major": "23" },
    gt: { "x-ms-azurevm-osversion-major": 21 },
  });
  assert.deepEqual(s2.policy, {
    claims: {
      "x-ms-ver": ["1.0"],
      "x-ms-azurevm-debuggersdisabled": [true],
      "x-ms-azurevm-osversion-major": [22],
    },
    gte: { "x-ms-azurevm-osversion-major": 22 },
    gt: {},
  });
  assert.equal(s2.version, 2);
  rejected(
    applyChange(s2, decoded({ type: "remove", claims: { "x-ms-ver": ["1.0"] } })),
    /claims.x-ms-ver: removing every allowed value would leave no allowed value; to drop the rule, remove it explicitly with "claims": \{"x-ms-ver": \[\]\}/,
  );
});

Deno.test("an empty list in a remove change drops the claim's rule", () => {
  const s1 = applied(emptyStoredPolicy, SEED_CHANGE);
  const s2 = applied(s1, { type: "remove", claims: { "x-ms-ver": [] } });
  assert.equal(s2.version, 2);
  assert.equal("x-ms-ver" in s2.policy.claims, false);
  assert.deepEqual(Object.keys(s2.policy.claims), [
    "x-ms-azurevm-debuggersdisabled",
    "x-ms-azurevm-osversion-major",
  ]);
  // The token no longer needs x-ms-ver: the explicit removal widened on purpose.
  const { "x-ms-ver": _, ...withoutVer } = {
    "x-ms-ver": "9",
    "x-ms-azurevm-debuggersdisabled": true,
    "x-ms-azurevm-osversion-major": 22,
  };
  assert.ok(E.isRight(evaluate(s2.policy, withoutVer)));
});

Deno.test("removing what the policy does not hold is rejected and named", () => {
  const s1 = applied(emptyStoredPolicy, SEED_CHANGE);
  const cases: [unknown, RegExp][] = [
    [
      { type: "remove", claims: { "x-ms-ver": ["1.1"] } },
      /claims.x-ms-ver: \["1.1"\] not allowed by the policy \(it allows \["1.0"\]\); check for typos/,
    ],
    [
      { type: "remove", claims: { "x-ms-azurevm-osversion-major": [22, 24] } },
      /osversion-major: \[24\] not allowed/,
    ],
    [
      { type: "remove", claims: { "x-ms-azurevm-osbuild": [] } },
      /claims.x-ms-azurevm-osbuild: the policy has no rule for this claim/,
    ],
    [
      { type: "remove", claims: { "x-ms-azurevm-osbuild": ["a"] } },
      /the policy has no rule for this claim/,
    ],
    [
      { type: "remove", gte: { "x-ms-azurevm-osversion-major": 23 } },
      /gte.x-ms-azurevm-osversion-major: the threshold in force is 22, not 23/,
    ],
    [
      { type: "remove", gt: { "x-ms-azurevm-osversion-minor": 1 } },
      /gt.x-ms-azurevm-osversion-minor: the policy has no gt rule/,
    ],
  ];
  for (const [input, message] of cases) {
    rejected(applyChange(s1, decoded(input)), message);
  }
  // Every problem of one change is reported together.
  rejected(
    applyChange(
      s1,
      decoded({
        type: "remove",
        claims: { "x-ms-ver": ["1.1"] },
        gte: { "x-ms-azurevm-osversion-major": 23 },
      }),
    ),
    /x-ms-ver.*; gte.x-ms-azurevm-osversion-major/,
  );
});

Deno.test("the version counter cannot overflow", () => {
  const last = { ...emptyStoredPolicy, version: maxPolicyVersion };
  const r = applyChange(last, decoded(SEED_CHANGE));
  assert.ok(E.isLeft(r));
  assert.equal(r.left._tag, "Internal");
});

Deno.test("property: the change codec round-trips normalised changes", () => {
  fc.assert(
    fc.property(change, (c) => {
      assert.deepEqual(KeyReleaseChangeCodec.decode(c), E.right(c));
      assert.deepEqual(KeyReleaseChangeCodec.encode(decoded(c)), c);
      assert.ok(KeyReleaseChangeCodec.is(c));
    }),
  );
});

// The seed's spelling of a change: lone scalars for one-value lists, numerals as strings.
const loosen = (c: KeyReleaseChange): unknown => ({
  type: c.type,
  claims: Object.fromEntries(
    Object.entries(c.claims).map(([name, values]) => {
      const vs = claimType(name) === "number" ? values.map(String) : values;
      return [name, vs.length === 1 && !Array.isArray(vs[0]) ? vs[0] : vs];
    }),
  ),
  gte: Object.fromEntries(Object.entries(c.gte).map(([n, v]) => [n, String(v)])),
  gt: c.gt,
});

Deno.test("property: the seed's loose spelling decodes to the same normalised change", () => {
  fc.assert(
    fc.property(change, (c) => {
      assert.deepEqual(decodeKeyReleaseChange(loosen(c)), E.right(c));
    }),
  );
});

const addOf = (p: KeyReleasePolicy): KeyReleaseChange => ({ type: "add", ...p });

const nonEmpty = (p: KeyReleasePolicy) =>
  [p.claims, p.gte, p.gt].some((m) => Object.keys(m).length > 0);

Deno.test("property: add is idempotent (up to the version)", () => {
  fc.assert(
    fc.property(policy, policy.filter(nonEmpty), (base, added) => {
      const once = applyChange(storedOf(base), addOf(added));
      assert.ok(E.isRight(once));
      const twice = applyChange(once.right, addOf(added));
      assert.ok(E.isRight(twice));
      assert.deepEqual(twice.right.policy, once.right.policy);
      assert.equal(twice.right.version, once.right.version + 1);
    }),
  );
});

// The part of `added` that `base` does not hold yet, and the remove change that undoes it.
const freshAndInverse = (
  base: KeyReleasePolicy,
  added: KeyReleasePolicy,
): [KeyReleaseChange, KeyReleaseChange] => {
  const claims = Object.fromEntries(
    Object.entries(added.claims)
      .map(([n, vs]) => [n, vs.filter((v) => !hasValue(base.claims[n] ?? [], v))] as const)
      .filter(([, vs]) => vs.length > 0),
  );
  const fresh = (field: "gte" | "gt") =>
    Object.fromEntries(Object.entries(added[field]).filter(([n]) => !(n in base[field])));
  const add = { type: "add" as const, claims, gte: fresh("gte"), gt: fresh("gt") };
  const undo = Object.fromEntries(
    Object.entries(claims).map(([n, vs]) => [n, n in base.claims ? vs : []]),
  );
  return [add, { ...add, type: "remove", claims: undo }];
};

Deno.test("property: adding fresh values then removing them restores the policy", () => {
  fc.assert(
    fc.property(policy, policy, (base, added) => {
      const [add, undo] = freshAndInverse(base, added);
      fc.pre(nonEmpty(add));
      const start = storedOf(base);
      const r = E.chain((s: StoredKeyReleasePolicy) => applyChange(s, undo))(
        applyChange(start, add),
      );
      assert.ok(E.isRight(r), E.isLeft(r) ? r.left.message : "");
      assert.deepEqual(r.right.policy, start.policy);
      assert.equal(r.right.version, start.version + 2);
    }),
  );
});

// A remove change drawn from what `p` holds, with an occasional value it does not hold.
const removalFrom = (p: KeyReleasePolicy) =>
  fc.tuple(
    fc.subarray(Object.keys(p.claims)).chain((names) =>
      fc.tuple(...names.map((n) => fc.oneof(fc.subarray([...p.claims[n]]), valuesOf(n)))).map((
        lists,
      ) => Object.fromEntries(names.map((n, i) => [n, lists[i]])))
    ),
    fc.subarray(Object.keys(p.gte)),
    fc.subarray(Object.keys(p.gt)),
  ).map(([claims, gte, gt]) => ({
    type: "remove" as const,
    claims,
    gte: Object.fromEntries(gte.map((n) => [n, p.gte[n]])),
    gt: Object.fromEntries(gt.map((n) => [n, p.gt[n]])),
  })).filter((c) => nonEmpty({ ...c }));

Deno.test("property: remove never adds: every rule after a removal was there before", () => {
  const case_ = policy.filter(nonEmpty).chain((p) => fc.tuple(fc.constant(p), removalFrom(p)));
  fc.assert(
    fc.property(case_, ([p, removal]) => {
      const r = applyChange(storedOf(p), removal);
      if (E.isLeft(r)) return;
      const after = r.right.policy;
      for (const [n, vs] of Object.entries(after.claims)) {
        assert.ok(n in p.claims);
        for (const v of vs) assert.ok(hasValue(p.claims[n], v));
        assert.ok(vs.length > 0);
      }
      for (const field of ["gte", "gt"] as const) {
        for (const [n, v] of Object.entries(after[field])) assert.equal(p[field][n], v);
      }
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: every accepted change yields a stored policy the KV codec accepts", () => {
  fc.assert(
    fc.property(policy, change, (p, c) => {
      const r = applyChange(storedOf(p), c);
      if (E.isRight(r)) {
        assert.ok(StoredKeyReleasePolicyCodec.is(r.right));
        assert.deepEqual(
          StoredKeyReleasePolicyCodec.decode(JSON.parse(JSON.stringify(r.right))),
          E.right(r.right),
        );
      }
    }),
  );
});
