/**
 * Cost of one trivial app request in the sandbox's QuickJS runtime: a fresh interpreter per
 * request (CCF's default: runtime + context + `ccf` prelude + module evaluation) against an
 * `interpreter_reuse` key (module code evaluated once). The bundle imports a few KB of code.
 */
import { createAppRuntime, KvStore } from "@kms/sandbox";

const library = Array.from({ length: 30 }, (_, i) =>
  `export function helper${i}(input) {
    const parts = String(input).split(",").map((p) => p.trim()).filter(Boolean);
    return parts.reduce((acc, p, j) => acc + p.length * (j + ${i}), ${i});
  }`).join("\n");

const handlers = `
import * as lib from "../lib/helpers.js";
export function trivial(request) {
  return { body: { ok: true, n: lib.helper7(request.query) } };
}
`;

const endpoint = (reuse: boolean) => ({
  js_module: "endpoints/app.js",
  js_function: "trivial",
  mode: "readonly" as const,
  forwarding_required: "never" as const,
  authn_policies: [],
  ...(reuse ? { interpreter_reuse: { key: "bench" } } : {}),
});

const app = await createAppRuntime({
  metadata: {
    endpoints: { "/fresh": { get: endpoint(false) }, "/reused": { get: endpoint(true) } },
  },
  modules: [
    { name: "endpoints/app.js", module: handlers },
    { name: "lib/helpers.js", module: library },
  ],
});
const store = new KvStore();

const run = (path: string) => {
  const r = app.handle({ method: "GET", path, query: "a,b,c" }, store.begin());
  if (r.status !== 200) throw new Error(`unexpected ${r.status}`);
};

// Warm up the WebAssembly tiers before measuring.
for (let i = 0; i < 50; i++) run("/app/fresh");

Deno.bench({
  name: `fresh interpreter per request (bundle ${(library.length / 1024).toFixed(1)} KB)`,
  group: "quickjs request",
  baseline: true,
  fn: () => run("/app/fresh"),
});

Deno.bench({
  name: "interpreter_reuse",
  group: "quickjs request",
  fn: () => run("/app/reused"),
});
