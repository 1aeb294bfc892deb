import assert from "node:assert/strict";
import { loadQuickJS } from "../../../../ccf/sandbox/quickjs/runtime.ts";
import { installDirectHostCalls } from "../../../../ccf/sandbox/quickjs/hostCalls.ts";

Deno.test("direct host calls: in place on the pinned QuickJS; values, objects and throws pass as through the library, and nothing leaks", async () => {
  const module = await loadQuickJS();
  const runtime = module.newRuntime();
  const ctx = runtime.newContext();
  assert(
    installDirectHostCalls(ctx),
    "the pinned quickjs-emscripten no longer has the expected internals",
  );
  const define = (name: string, f: Parameters<typeof ctx.newFunction>[1]) => {
    const h = ctx.newFunction(name, f);
    ctx.setProp(ctx.global, name, h);
    h.dispose();
  };
  define("concat", (a, b) => ctx.newString(ctx.getString(a) + ctx.getString(b)));
  define("pair", (a) => {
    const o = ctx.newObject();
    ctx.setProp(o, "first", a);
    ctx.setProp(o, "n", ctx.newNumber(ctx.getNumber(a) * 2));
    return o;
  });
  define("nothing", () => undefined);
  define("throwsValue", (a) => {
    throw ctx.newString(`refused ${ctx.getString(a)}`);
  });
  define("throwsError", () => {
    throw new RangeError("out of range");
  });
  const result = ctx.unwrapResult(ctx.evalCode(`
    const out = [];
    for (let i = 0; i < 2000; i++) {
      const p = pair(i);
      if (p.first !== i || p.n !== 2 * i) throw new Error("bad pair " + i);
      if (concat("a", String(i)) !== "a" + i) throw new Error("bad concat " + i);
    }
    out.push(nothing() === undefined);
    try { throwsValue("x"); } catch (e) { out.push(e); }
    try { throwsError(); } catch (e) { out.push(e instanceof Error, e.message); }
    JSON.stringify(out);
  `));
  assert.deepEqual(JSON.parse(ctx.getString(result)), [true, "refused x", true, "out of range"]);
  result.dispose();
  // QuickJS aborts freeing a runtime that still holds objects: a leaked or doubly freed result
  // of the loop above would throw here.
  ctx.dispose();
  runtime.dispose();
});
