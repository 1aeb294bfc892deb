/**
 * A 40-module app without `interpreter_reuse`: every request gets a fresh interpreter, which
 * loads the handler's module and the 39 it imports (each a few functions and a class), as an app
 * built with rollup's `preserveModules` does. Requests per second = 1 / time per iteration.
 *
 * CCF loads such modules from bytecode compiled at deployment. quickjs-emscripten 0.32 cannot
 * serialise bytecode, so the sandbox compiles them per interpreter; the third case measures that
 * compilation alone, the most a bytecode cache could save per request.
 */
import { createAppRuntime, KvStore } from "@kms/sandbox";
import { newQuickJSWASMModule } from "quickjs-emscripten";

const MODULES = 40;

const library = (i: number) => `
export const TAG_${i} = "m${i}";
export class Store${i} {
  constructor(map) { this.map = map; this.prefix = TAG_${i}; }
  key(id) { return ccf.strToBuf(this.prefix + ":" + String(id)); }
  get(id) { const v = this.map.get(this.key(id)); return v === undefined ? undefined : ccf.bufToStr(v); }
}
export function parse${i}(input) {
  const parts = String(input).split(",").map((p) => p.trim()).filter(Boolean);
  return parts.reduce((acc, p, j) => acc + p.length * (j + ${i}), ${i});
}
export function validate${i}(o) {
  if (typeof o !== "object" || o === null) throw new TypeError("expected an object");
  for (const [k, v] of Object.entries(o)) if (v === undefined) throw new TypeError(k);
  return o;
}`;

const imports = Array.from(
  { length: MODULES - 1 },
  (_, i) => `import * as m${i} from "./lib/m${i}.js";`,
).join("\n");
const entry = `${imports}
export function heartbeat(request) {
  return { body: { ok: true, n: m7.parse7(request.query) } };
}`;

const modules = [
  { name: "app.js", module: entry },
  ...Array.from({ length: MODULES - 1 }, (_, i) => ({ name: `lib/m${i}.js`, module: library(i) })),
];
const endpoint = {
  js_module: "app.js",
  js_function: "heartbeat",
  mode: "readonly" as const,
  authn_policies: [],
};

const app = await createAppRuntime({
  metadata: {
    endpoints: {
      "/heartbeat": { get: endpoint },
      "/reused": { get: { ...endpoint, interpreter_reuse: { key: "bench" } } },
    },
  },
  modules,
});
const store = new KvStore();

const run = (path = "/app/heartbeat") => {
  const r = app.handle({ method: "GET", path, query: "a,b,c" }, store.begin());
  if (r.status !== 200) {
    throw new Error(`unexpected ${r.status}: ${new TextDecoder().decode(r.body)}`);
  }
};

const quickjs = await newQuickJSWASMModule();
const sources = new Map(modules.map((m) => [m.name, m.module]));
// Compiling the entry compiles every module it imports, as loading it in an interpreter does.
const compileAll = () => {
  const runtime = quickjs.newRuntime();
  runtime.setModuleLoader(
    (name) => sources.get(name) ?? { error: new Error(name) },
    (_base, specifier) => specifier.replace(/^\.\//, ""),
  );
  const ctx = runtime.newContext();
  ctx.unwrapResult(ctx.evalCode(entry, "app.js", { type: "module", compileOnly: true })).dispose();
  ctx.dispose();
  runtime.dispose();
};

// Warm up the WebAssembly tiers before measuring.
for (let i = 0; i < 50; i++) run(), compileAll();

Deno.bench({
  name: `${MODULES}-module app, fresh interpreter per request`,
  group: "modules",
  baseline: true,
  fn: () => run(),
});
Deno.bench({
  name: `${MODULES}-module app, interpreter_reuse`,
  group: "modules",
  fn: () => run("/app/reused"),
});
Deno.bench({
  name: `compiling its ${MODULES} modules alone (runtime + context included)`,
  group: "modules",
  fn: compileAll,
});
