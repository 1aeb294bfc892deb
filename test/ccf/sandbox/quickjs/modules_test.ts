import assert from "node:assert/strict";
import { createAppRuntime, type RequestHooks } from "../../../../ccf/sandbox/quickjs/mod.ts";
import { bundleOf, ep, EXCEPTION_BODY, Harness, json, text } from "./_harness.ts";

const modules = {
  "endpoints/local.js": `
    import { shout } from "../lib/text.js";
    import * as sub from "./sub/deep.js";
    export function hello() { return { body: shout("hi") + sub.depth }; }
    function hidden() { return { body: "renamed" }; }
    export { hidden as renamed };
    export default function () { return { body: "default" }; }
    export const arrow = () => ({ body: "arrow" });
    export const notCallable = 42;
  `,
  "endpoints/sub/deep.js":
    `import { shout } from "../../lib/text.js"; export const depth = shout("!");`,
  "lib/text.js": `export const shout = (s) => s.toUpperCase();`,
  "endpoints/barrel.js": `export { hello } from "./local.js";`,
  "endpoints/star.js": `export * from "./local.js";`,
  "endpoints/starAs.js": `export * as hello from "./local.js";`,
  "endpoints/importExport.js": `import { hello } from "./local.js"; export { hello };`,
  "endpoints/verbatim.js":
    `import { shout } from "lib/text.js"; export const f = () => ({ body: shout("v") });`,
  "endpoints/bare.js":
    `import { x } from "@microsoft/ccf-app"; export const f = () => ({ body: x });`,
  "endpoints/noExtension.js":
    `import { shout } from "../lib/text"; export const f = () => ({ body: shout("e") });`,
  "endpoints/syntax.js": `export const f = () => ({ body: ) });`,
  "endpoints/throws.js": `throw new Error("top level"); export const f = () => ({});`,
  "endpoints/one.js": `import { seen } from "./two.js";
    export let n = 0;
    export function f() { n++; return { body: { n, seen: seen() } }; }`,
  "endpoints/two.js": `import { n } from "./one.js"; export const seen = () => n;`,
};

const routes = {
  "/hello": { get: ep("endpoints/local.js", "hello") },
  "/renamed": { get: ep("endpoints/local.js", "renamed") },
  "/hidden": { get: ep("endpoints/local.js", "hidden") },
  "/default": { get: ep("endpoints/local.js", "default") },
  "/arrow": { get: ep("endpoints/local.js", "arrow") },
  "/notCallable": { get: ep("endpoints/local.js", "notCallable") },
  "/missingExport": { get: ep("endpoints/local.js", "nope") },
  "/barrel": { get: ep("endpoints/barrel.js", "hello") },
  "/star": { get: ep("endpoints/star.js", "hello") },
  "/starAs": { get: ep("endpoints/starAs.js", "hello") },
  "/importExport": { get: ep("endpoints/importExport.js", "hello") },
  "/verbatim": { get: ep("endpoints/verbatim.js", "f") },
  "/bare": { get: ep("endpoints/bare.js", "f") },
  "/noExtension": { get: ep("endpoints/noExtension.js", "f") },
  "/syntax": { get: ep("endpoints/syntax.js", "f") },
  "/throws": { get: ep("endpoints/throws.js", "f") },
  "/cycle": { get: ep("endpoints/one.js", "f") },
};

const setup = async () =>
  new Harness(
    await createAppRuntime(bundleOf(routes, modules), { returnExceptionDetails: true }),
  );

const failure = (h: Harness, path: string): string => {
  const r = h.run(path);
  assert.equal(r.status, 500, path);
  const e = (json(r) as { error: { message: string; details: Array<{ message: string }> } })
    .error;
  assert.equal(e.message, EXCEPTION_BODY.error.message);
  return e.details[0].message;
};

Deno.test("modules: relative imports resolve against the importer; local exports are handlers", async () => {
  const h = await setup();
  assert.equal(text(h.run("/hello")), "HI!");
  assert.equal(text(h.run("/renamed")), "renamed");
  assert.equal(text(h.run("/default")), "default");
  assert.equal(text(h.run("/arrow")), "arrow");
  assert.equal(text(h.run("/verbatim")), "V");
  assert.deepEqual(json(h.run("/cycle")), { n: 1, seen: 1 });
  h.app.dispose();
});

Deno.test("modules: re-exported handlers fail like CCF ('Failed to find export')", async () => {
  const h = await setup();
  for (
    const [path, module] of [
      ["/barrel", "barrel"],
      ["/star", "star"],
      ["/starAs", "starAs"],
    ]
  ) {
    assert.equal(
      failure(h, path),
      `Failed to find export 'hello' in module '/endpoints/${module}.js'`,
    );
  }
  assert.equal(text(h.run("/importExport")), "HI!");
  assert.equal(
    failure(h, "/hidden"),
    "Failed to find export 'hidden' in module '/endpoints/local.js'",
  );
  assert.equal(
    failure(h, "/missingExport"),
    "Failed to find export 'nope' in module '/endpoints/local.js'",
  );
  assert.equal(
    failure(h, "/notCallable"),
    "Export 'notCallable' of module '/endpoints/local.js' is not a function",
  );
  h.app.dispose();
});

Deno.test("modules: bare specifiers, missing extensions, syntax errors and top-level throws are 500s", async () => {
  const h = await setup();
  assert.match(failure(h, "/bare"), /@microsoft\/ccf-app/);
  assert.match(failure(h, "/noExtension"), /lib\/text'? could not be loaded|lib\/text/);
  assert.match(failure(h, "/syntax"), /SyntaxError/);
  assert.match(failure(h, "/throws"), /top level/);
  assert.match(failure(h, "/throws"), /top level/);
  h.app.dispose();
});

const counterModule = `
  let count = 0;
  globalThis.loads = (globalThis.loads ?? 0) + 1;
  const kv = ccf.kv["public:hits"];
  const k = ccf.strToBuf("n");
  export function hit() {
    count++;
    const n = (kv.get(k) ? Number(ccf.bufToStr(kv.get(k))) : 0) + 1;
    kv.set(k, ccf.strToBuf(String(n)));
    return { body: { count, loads: globalThis.loads, stored: n } };
  }
`;

Deno.test("modules: without reuse top-level code runs every request; with reuse state persists", async () => {
  const app = await createAppRuntime(
    bundleOf({
      "/fresh": { post: ep("counter.js", "hit") },
      "/reused": { post: ep("counter.js", "hit", { interpreter_reuse: { key: "a" } }) },
      "/reused2": { post: ep("counter.js", "hit", { interpreter_reuse: { key: "a" } }) },
      "/other": { post: ep("counter.js", "hit", { interpreter_reuse: { key: "b" } }) },
    }, { "counter.js": counterModule }),
  );
  const h = new Harness(app);
  const post = (path: string) => json(h.run({ method: "POST", path })) as Record<string, number>;
  assert.deepEqual(post("/fresh"), { count: 1, loads: 1, stored: 1 });
  assert.deepEqual(post("/fresh"), { count: 1, loads: 1, stored: 2 });
  assert.deepEqual(post("/reused"), { count: 1, loads: 1, stored: 3 });
  assert.deepEqual(post("/reused"), { count: 2, loads: 1, stored: 4 });
  assert.deepEqual(post("/reused2"), { count: 3, loads: 1, stored: 5 });
  assert.deepEqual(post("/other"), { count: 1, loads: 1, stored: 6 });
  assert.deepEqual(post("/reused"), { count: 4, loads: 1, stored: 7 });
  app.dispose();
});

Deno.test("modules: one reuse key keeps read-write and read-only interpreters apart, as CCF", async () => {
  const cache = `
    const seen = [];
    export function remember(request) {
      seen.push(request.params.v);
      return { body: seen };
    }
    export const recall = () => ({ body: seen });
  `;
  const reuse = { interpreter_reuse: { key: "shared" } };
  const app = await createAppRuntime(
    bundleOf({
      "/remember/{v}": { post: ep("cache.js", "remember", reuse) },
      "/recall": { get: ep("cache.js", "recall", { ...reuse, mode: "readonly" }) },
      "/history": { get: ep("cache.js", "recall", { ...reuse, mode: "historical" }) },
    }, { "cache.js": cache }),
  );
  const h = new Harness(app);
  assert.deepEqual(json(h.run({ method: "POST", path: "/remember/a" })), ["a"]);
  assert.deepEqual(json(h.run({ method: "POST", path: "/remember/b" })), ["a", "b"]);
  // What the read-write handler left in module state is not there for the read-only one.
  assert.deepEqual(json(h.run("/recall")), []);
  const history = {
    method: "GET",
    path: "/history",
    headers: { "x-ms-ccf-transaction-id": "2.1" },
  };
  const state: RequestHooks = {
    historicalStateAt: () => ({ transactionId: "2.1", receipt: null }),
    consensus: {
      getLastCommittedTxId: () => ({ view: 2, seqno: 1 }),
      getStatusForTxId: () => "Committed",
      getViewForSeqno: () => 2,
    },
  };
  assert.deepEqual(json(h.run(history, state)), []);
  assert.deepEqual(json(h.run({ method: "POST", path: "/remember/c" })), ["a", "b", "c"]);
  app.dispose();
});

Deno.test("modules: cached interpreters are bounded (least recently used dropped)", async () => {
  const endpoints = Object.fromEntries(
    ["a", "b", "c"].map((k) => [`/${k}`, {
      post: ep("counter.js", "hit", { interpreter_reuse: { key: k } }),
    }]),
  );
  const app = await createAppRuntime(bundleOf(endpoints, { "counter.js": counterModule }), {
    maxCachedInterpreters: 2,
  });
  const h = new Harness(app);
  const count = (path: string) =>
    (json(h.run({ method: "POST", path })) as { count: number }).count;
  assert.equal(count("/a"), 1);
  assert.equal(count("/b"), 1);
  assert.equal(count("/a"), 2);
  assert.equal(count("/c"), 1);
  assert.equal(count("/a"), 3);
  assert.equal(count("/b"), 1);
  app.dispose();
});
