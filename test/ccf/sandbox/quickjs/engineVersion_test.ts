/** The app runtime offers what CCF's QuickJS (2024-01-13) offers, not what this newer engine adds. */
import assert from "node:assert/strict";
import { createAppRuntime } from "../../../../ccf/sandbox/quickjs/mod.ts";
import { bundleOf, ep, Harness, json } from "./_harness.ts";

// Everything the engine has beyond 2024-01-13, as paths from the global object.
const NEWER = [
  "WeakRef",
  "FinalizationRegistry",
  "Float16Array",
  "Iterator",
  "Function.prototype.columnNumber",
  "Math.f16round",
  "Math.sumPrecise",
  "DataView.prototype.getFloat16",
  "DataView.prototype.setFloat16",
  "Promise.try",
  "RegExp.escape",
  "RegExp.prototype.unicodeSets",
  "Error.isError",
  "ArrayBuffer.prototype.resize",
  "ArrayBuffer.prototype.resizable",
  "ArrayBuffer.prototype.maxByteLength",
  "ArrayBuffer.prototype.transfer",
  "ArrayBuffer.prototype.transferToFixedLength",
  "ArrayBuffer.prototype.detached",
  "SharedArrayBuffer.prototype.grow",
  "SharedArrayBuffer.prototype.growable",
  "SharedArrayBuffer.prototype.maxByteLength",
  ...["union", "intersection", "difference", "symmetricDifference"].map((m) =>
    `Set.prototype.${m}`
  ),
  ...["isSubsetOf", "isSupersetOf", "isDisjointFrom"].map((m) => `Set.prototype.${m}`),
  "Map.prototype.getOrInsert",
  "Map.prototype.getOrInsertComputed",
  "WeakMap.prototype.getOrInsert",
  "WeakMap.prototype.getOrInsertComputed",
];
const ITERATOR_HELPERS = ["drop", "every", "filter", "find", "flatMap", "forEach", "map"]
  .concat(["reduce", "some", "take", "toArray"]);

const app = `
  const has = (path) => {
    let owner = globalThis;
    const names = path.split(".");
    for (const name of names.slice(0, -1)) owner = owner[name];
    return Object.prototype.hasOwnProperty.call(owner, names[names.length - 1]);
  };
  const attempt = (f) => {
    try {
      return String(f());
    } catch (e) {
      return e.name + ": " + e.message;
    }
  };
  export function present(request) {
    const { paths, helpers } = JSON.parse(request.body.text());
    const iteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([].values()));
    return { body: [
      ...paths.filter(has),
      ...helpers.filter((m) => Object.prototype.hasOwnProperty.call(iteratorPrototype, m)),
      ...(Object.prototype.hasOwnProperty.call(iteratorPrototype, Symbol.toStringTag)
        ? ["%IteratorPrototype%[Symbol.toStringTag]"] : []),
      ...(iteratorPrototype.constructor !== Object ? ["%IteratorPrototype%.constructor"] : []),
      ...("at" in Array.prototype[Symbol.unscopables] ? ["unscopables.at"] : []),
    ] };
  }
  export function behaviour() {
    return { body: {
      weakMapSymbol: attempt(() => new WeakMap().set(Symbol("s"), 1)),
      weakMapNumber: attempt(() => new WeakMap([[1, 1]])),
      weakSetSymbol: attempt(() => new WeakSet().add(Symbol.iterator)),
      weakMapObject: attempt(() => new WeakMap().set({}, 1).has(Symbol())),
      vFlag: attempt(() => new RegExp("a", "v")),
      modifiers: attempt(() => RegExp("(?i:a)b")),
      duplicateNames: attempt(() => new RegExp("(?<x>a)|(?<x>b)")),
      fromRegExpWithV: attempt(() => new RegExp(/a/, "v")),
      named: attempt(() => new RegExp("(?<x>a)(?<=a)(?<y>b)", "dgimsuy").exec("ab").groups.y),
      escapes: attempt(() => new RegExp("\\\\(?i:x\\\\)[(?i:]").test("(?i:x)(")),
      same: attempt(() => { const r = /x/g; return RegExp(r) === r && new RegExp(r) !== r; }),
      instances: attempt(() => /x/ instanceof RegExp && /x/.constructor === RegExp &&
        new RegExp("x") instanceof RegExp && RegExp.length),
      split: attempt(() => "a-b_c".split(/[-_]/).join()),
      subclass: attempt(() => { class R extends RegExp {} return new R("a+", "g").test("aa"); }),
    } };
  }
`;

const setup = async () =>
  new Harness(
    await createAppRuntime(
      bundleOf({
        "/present": { post: ep("app.js", "present") },
        "/behaviour": { get: ep("app.js", "behaviour") },
      }, { "app.js": app }),
    ),
  );

Deno.test("QuickJS 2024-01-13: none of the newer engine's built-ins is there", async () => {
  const h = await setup();
  const r = h.run({
    method: "POST",
    path: "/present",
    body: new TextEncoder().encode(JSON.stringify({ paths: NEWER, helpers: ITERATOR_HELPERS })),
  });
  assert.deepEqual(json(r), []);
  h.app.dispose();
});

Deno.test("QuickJS 2024-01-13: weak keys are objects; RegExp has no v flag, modifiers or repeated names", async () => {
  const h = await setup();
  assert.deepEqual(json(h.run("/behaviour")), {
    weakMapSymbol: "TypeError: not an object",
    weakMapNumber: "TypeError: not an object",
    weakSetSymbol: "TypeError: not an object",
    weakMapObject: "false",
    vFlag: "SyntaxError: invalid regular expression flags",
    modifiers: "SyntaxError: invalid group",
    duplicateNames: "SyntaxError: duplicate group name",
    fromRegExpWithV: "SyntaxError: invalid regular expression flags",
    named: "b",
    escapes: "true",
    same: "true",
    instances: "2",
    split: "a,b,c",
    subclass: "true",
  });
  h.app.dispose();
});

const failing = async (source: string) => {
  const runtime = await createAppRuntime(
    bundleOf({ "/f": { get: ep("app.js", "f") } }, {
      "app.js": source,
      "data.json": "{}",
    }),
    { returnExceptionDetails: true },
  );
  const r = new Harness(runtime).run("/f");
  runtime.dispose();
  assert.equal(r.status, 500);
  return (json(r) as { error: { details: { message: string }[] } }).error.details[0].message;
};

Deno.test("QuickJS 2024-01-13: a bundle using WeakRef fails as it would on CCF", async () => {
  assert.match(
    await failing(`const cache = new WeakRef({}); export const f = () => ({ body: "" });`),
    /ReferenceError: 'WeakRef' is not defined|WeakRef is not defined/,
  );
  assert.match(
    await failing(`export const f = () => ({ body: new Set([1]).union(new Set([2])).size });`),
    /TypeError: not a function/,
  );
});

Deno.test("QuickJS 2024-01-13: newer syntax makes the module fail to load", async () => {
  const cases = [
    `export const f = () => ({ body: String(/[\\p{L}--[a-z]]/v.test("A")) });`,
    `export const f = () => ({ body: String(/(?i:a)b/.test("Ab")) });`,
    `export const f = () => ({ body: String(/(?<y>a)|(?<y>b)/.test("b")) });`,
    `import data from "./data.json" with { type: "json" }; export const f = () => ({ body: data });`,
  ];
  for (const source of cases) {
    assert.match(await failing(source), /Failed to load module.*newer than CCF's QuickJS/s, source);
  }
  // Syntax QuickJS 2024-01-13 has still loads.
  const runtime = await createAppRuntime(
    bundleOf({ "/f": { get: ep("app.js", "f") } }, {
      "app.js": `class A { static #n = 1; static { A.m = A.#n; } static has(o) { return #n in o; } }
        export const f = () => ({ body: [A.m, A.has(A), [3, 1, 2].toSorted().at(-1)] });`,
    }),
  );
  assert.deepEqual(json(new Harness(runtime).run("/f")), [1, true, 3]);
  runtime.dispose();
});
