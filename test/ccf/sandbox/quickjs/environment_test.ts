import assert from "node:assert/strict";
import { sharedEngine } from "../../../../ccf/sandbox/quickjs/engine.ts";
import { EXCEPTION_BODY, Harness, json, singleModuleApp, text } from "./_harness.ts";

const FORBIDDEN = [
  "TextEncoder",
  "TextDecoder",
  "atob",
  "btoa",
  "URL",
  "URLSearchParams",
  "setTimeout",
  "setInterval",
  "clearTimeout",
  "fetch",
  "XMLHttpRequest",
  "crypto",
  "performance",
  "queueMicrotask",
  "structuredClone",
  "Intl",
  "process",
  "Buffer",
  "require",
  "Deno",
  "window",
  "self",
  "navigator",
  "std",
  "os",
  "print",
  "scriptArgs",
  "Iterator",
  "Float16Array",
];

const handlers = {
  globals: `() => ({ body: ${
    JSON.stringify(FORBIDDEN)
  }.filter((n) => typeof globalThis[n] !== "undefined") })`,
  useTextEncoder: `() => ({ body: new TextEncoder().encode("x").length })`,
  useSetTimeout: `() => { setTimeout(() => {}, 1); return { body: "scheduled" }; }`,
  useAtob: `() => ({ body: atob("eA==") })`,
  consoleDebug: `() => { console.debug("x"); return { body: "debugged" }; }`,
  consoleLevels: `() => {
    console.log("a", 1, { b: [2] }, null, undefined);
    console.info("i");
    console.warn("w", new Error("e"));
    console.error("boom");
    return { body: Object.keys(console).join(",") };
  }`,
  dates: `() => {
    const before = [Date.now(), new Date().getTime(), new Date(5).getTime(), typeof Date()];
    const previous = ccf.enableUntrustedDateTime(true);
    const after = Date.now();
    const again = ccf.enableUntrustedDateTime(false);
    return { body: { before, previous, again, after, later: Date.now(),
      isDate: new Date() instanceof Date, iso: new Date(0).toISOString() } };
  }`,
  random: `() => ({ body: [Math.random(), Math.random()] })`,
  converters: `() => {
    const attempts = {
      strToBufNumber: () => ccf.strToBuf(1),
      bufToStrUint8Array: () => ccf.bufToStr(new Uint8Array(2)),
      bufToJsonUint8Array: () => ccf.bufToJsonCompatible(new Uint8Array(2)),
      twoArgs: () => ccf.strToBuf("a", "b"),
      dateNotBool: () => ccf.enableUntrustedDateTime(1),
      claimsDigest31: () => ccf.rpc.setClaimsDigest(new ArrayBuffer(31)),
      kvUint8ArrayKey: () => ccf.kv.m.get(new Uint8Array(1)),
    };
    const out = {};
    for (const [k, f] of Object.entries(attempts)) {
      try { f(); out[k] = "no error"; } catch (e) { out[k] = e.constructor.name + ": " + e.message; }
    }
    out.roundTrip = ccf.bufToJsonCompatible(ccf.jsonCompatibleToBuf({ x: ["é"] }));
    out.text = ccf.bufToStr(ccf.strToBuf("héllo"));
    out.bytes = ccf.strToBuf("é").byteLength;
    return { body: out };
  }`,
  loop: `() => { for (;;) {} }`,
  loopCaught: `() => { try { for (;;) {} } catch (e) { return { body: "caught" }; } }`,
  allocate: `() => { let s = "x"; for (;;) s += s; }`,
  bigString: `() => ({ body: "x".repeat(60 * 1024 * 1024).length })`,
  recursion:
    `() => { const f = (n) => f(n + 1) + 1; try { f(0); } catch (e) { return { body: String(e) }; } }`,
  deepJson: `() => { let o = {}; for (let i = 0; i < 100000; i++) o = { o }; return { body: o }; }`,
  dynamicImport: `() => { import("./app.js").then(() => { throw 1; }); return { body: "ok" }; }`,
};

const source = Object.entries(handlers).map(([k, v]) => `export const ${k} = ${v};`).join("\n");

const setup = async (options = {}) =>
  new Harness(await singleModuleApp(source, Object.keys(handlers), options));

Deno.test("environment: no Web, Node, Deno or post-2024 globals", async () => {
  const h = await setup();
  assert.deepEqual(json(h.run("/globals")), []);
  for (const path of ["/useTextEncoder", "/useSetTimeout", "/useAtob", "/consoleDebug"]) {
    const r = h.run(path);
    assert.equal(r.status, 500, path);
    assert.deepEqual(json(r), EXCEPTION_BODY);
  }
  assert.equal(text(h.run("/dynamicImport")), "ok");
  h.app.dispose();
});

Deno.test("environment: console has log/info/warn/error only, captured with levels", async () => {
  const sink: string[] = [];
  const h = await setup({ logSink: (e: { level: string; message: string }) => sink.push(e.level) });
  const r = h.run("/consoleLevels");
  assert.equal(text(r), "log,info,warn,error");
  assert.deepEqual(r.logs, [
    { level: "info", message: 'a 1 {"b":[2]} null undefined' },
    { level: "info", message: "i" },
    { level: "fail", message: "w Error: e" },
    { level: "fatal", message: "boom" },
  ]);
  assert.deepEqual(sink, ["info", "info", "fail", "fatal"]);
  h.app.dispose();
});

Deno.test("environment: Date is 0 until enableUntrustedDateTime(true)", async () => {
  const h = await setup();
  const start = Date.now();
  const body = json(h.run("/dates")) as Record<string, unknown>;
  assert.deepEqual(body.before, [0, 0, 5, "string"]);
  assert.equal(body.previous, false);
  assert.equal(body.again, true);
  assert.ok((body.after as number) >= start && (body.after as number) <= Date.now());
  assert.equal(body.later, 0);
  assert.equal(body.isDate, true);
  assert.equal(body.iso, "1970-01-01T00:00:00.000Z");
  h.app.dispose();
});

Deno.test("environment: Math.random comes from the host", async () => {
  let n = 0;
  const h = await setup({ random: () => (n += 0.25) });
  assert.deepEqual(json(h.run("/random")), [0.25, 0.5]);
  h.app.dispose();
  const real = await setup();
  const [a, b] = json(real.run("/random")) as number[];
  assert.ok(a >= 0 && a < 1 && a !== b);
  real.app.dispose();
});

Deno.test("environment: converters take ArrayBuffers only, with CCF's TypeErrors", async () => {
  const h = await setup();
  assert.deepEqual(json(h.run("/converters")), {
    strToBufNumber: "TypeError: Argument must be a string",
    bufToStrUint8Array: "TypeError: Argument must be an ArrayBuffer",
    bufToJsonUint8Array: "TypeError: Argument must be an ArrayBuffer",
    twoArgs: "TypeError: Passed 2 arguments, but expected 1",
    dateNotBool: "TypeError: First argument must be a boolean",
    claimsDigest31: "TypeError: Argument must be an ArrayBuffer of the right size: 32",
    kvUint8ArrayKey: "TypeError: Argument must be an ArrayBuffer",
    roundTrip: { x: ["é"] },
    text: "héllo",
    bytes: 2,
  });
  h.app.dispose();
});

Deno.test("environment: an infinite loop is stopped after the time budget", async () => {
  const h = await setup();
  for (const path of ["/loop", "/loopCaught"]) {
    const start = performance.now();
    const r = h.run(path);
    const elapsed = performance.now() - start;
    assert.equal(r.status, 500);
    assert.deepEqual(json(r), {
      error: { code: "InternalError", message: "Operation took too long to complete." },
    });
    assert.ok(elapsed >= 950 && elapsed < 3000, `took ${elapsed} ms`);
  }
  h.app.dispose();
});

Deno.test("environment: the heap limit turns runaway allocation into a 500", async () => {
  const h = await setup({ maxHeapBytes: 16 * 1024 * 1024 });
  for (const path of ["/allocate", "/bigString"]) {
    const r = h.run(path);
    assert.equal(r.status, 500);
    assert.deepEqual(json(r), EXCEPTION_BODY);
  }
  assert.equal(text(h.run("/random")).startsWith("["), true);
  h.app.dispose();
  const roomy = await setup();
  assert.equal(text(roomy.run("/bigString")), String(60 * 1024 * 1024));
  roomy.app.dispose();
});

Deno.test("environment: stack overflows are QuickJS errors or a 500, never a dead sandbox", async () => {
  const h = await setup();
  assert.equal(text(h.run("/recursion")), "InternalError: stack overflow");
  // Deep enough native recursion exhausts the host stack inside QuickJS; the sandbox answers 500
  // and continues on a spare QuickJS instance.
  const r = h.run("/deepJson");
  assert.equal(r.status, 500);
  assert.deepEqual(json(r), EXCEPTION_BODY);
  assert.equal(text(h.run("/recursion")), "InternalError: stack overflow");
  await (await sharedEngine()).ready();
  h.app.dispose();
});

Deno.test("environment: loading modules gets a larger budget than the handler", async () => {
  // CCF compiles at deployment; here modules compile on first use, so loading may take longer
  // than the handler's budget, while a handler that does still times out.
  const source = `
    const spin = (ms) => { const end = Date.now() + ms; while (Date.now() < end) {} };
    ccf.enableUntrustedDateTime(true);
    spin(300);
    export function ok() { return { body: "loaded" }; }
    export function slow() { spin(400); return { body: "late" }; }
  `;
  const h = new Harness(
    await singleModuleApp(source, ["ok", "slow"], { maxExecutionTimeMs: 200 }, {
      interpreter_reuse: { key: "k" },
    }),
  );
  assert.equal(text(h.run("/ok")), "loaded");
  assert.equal(h.run("/slow").status, 500);
  h.app.dispose();
});
