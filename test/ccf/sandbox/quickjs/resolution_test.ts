import assert from "node:assert/strict";
import { indirectExportNames, probeSource } from "../../../../ccf/sandbox/quickjs/exportScan.ts";
import { normalizeModuleName } from "../../../../ccf/sandbox/quickjs/moduleNames.ts";
import { appPath, Router } from "../../../../ccf/sandbox/quickjs/routing.ts";
import { validateBundle } from "../../../../ccf/sandbox/quickjs/bundle.ts";
import { bundleOf, ep } from "./_harness.ts";

Deno.test("module names: QuickJS's default normaliser", () => {
  // CCF compiles module "/x/y.js" under the QuickJS name "x/y.js".
  const cases: Array<[string, string, string]> = [
    ["endpoints/a.js", "./b.js", "endpoints/b.js"],
    ["endpoints/a.js", "../utils/b.js", "utils/b.js"],
    ["endpoints/x/a.js", "../../b.js", "b.js"],
    ["endpoints/a.js", "../../b.js", "../b.js"],
    ["endpoints/a.js", "utils/b.js", "utils/b.js"],
    ["endpoints/a.js", "@microsoft/ccf-app", "@microsoft/ccf-app"],
    ["a.js", "./b.js", "b.js"],
    ["a/b.js", "./c/../d.js", "a/c/../d.js"],
    ["/endpoints/a.js", "../utils/b.js", "utils/b.js"],
  ];
  for (const [base, spec, expected] of cases) {
    assert.equal(normalizeModuleName(base, spec), expected, `${base} + ${spec}`);
  }
});

Deno.test("export scan: finds indirect exports only at the top level of real code", () => {
  const scan = (src: string) => [...indirectExportNames(src)].sort();
  assert.deepEqual(scan(`export { a as b, c } from "./x.js"; export function d() {}`), ["b", "c"]);
  assert.deepEqual(scan(`export * as ns from "./x.js"; export * from "./y.js";`), ["ns"]);
  assert.deepEqual(scan(`export{a as default}from"./z.js";export{q as r};`), ["default"]);
  assert.deepEqual(scan(`export { x as "str name" } from "m"`), ["str name"]);
  assert.deepEqual(scan(`import { g } from "./b.js"; export { g };`), []);
  assert.deepEqual(
    scan(`
      const r = /export { q } from "z"/g; // export { c } from "z"
      /* export { d } from "z" */
      const s = "export { w } from 'z'";
      const t = \`\${ { a: 1 }.a } export { u } from "z" \${ \`nested \${ "x" }\` }\`;
      if (s) /}/.test(s);
      const o = { export: 1 }; o.export; const q = a / b / c;
      export { r };
    `),
    [],
  );
});

Deno.test("export scan: the probe appends one export of the name", () => {
  assert.match(probeSource("x", "handler"), /export \{ \w+ as handler \};\n$/);
  assert.match(probeSource("x", "not an identifier"), /as "not an identifier" \};\n$/);
});

Deno.test("routing: /app prefix, templates, ambiguity", () => {
  assert.equal(appPath("/app/x"), "/x");
  assert.equal(appPath("/x"), "/x");
  assert.equal(appPath("/application"), "/application");
  const router = new Router(validateBundle(bundleOf({
    "/a/{x}": { get: ep("m.js", "f") },
    "/{y}/b": { get: ep("m.js", "f") },
    "/dots.json": { get: ep("m.js", "f") },
  }, { "m.js": "" })));
  assert.equal(router.match("GET", "/a/b").kind, "ambiguous");
  assert.equal(router.match("GET", "/dotsXjson").kind, "notFound");
  assert.equal(router.match("GET", "/dots.json").kind, "endpoint");
  assert.equal(router.match("get", "/app/a/1").kind, "endpoint");
});
