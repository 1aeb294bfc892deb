/**
 * The dependency rules of the layout (DESIGN §2), checked on every import and re-export of every
 * TypeScript file: what may import what, so that the core stays pure, the CCF shell never leans on
 * the stand-in, and the operator CLI stays usable against a real CCF network.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));
const skipped = new Set(["node_modules", "dist", "workspace", ".git"]);
const sandboxPackage = "@kms/sandbox";
/** The CLI's one module on the sandbox's stand-ins, and the commands whose demo-only options use it. */
const cliDemo = "scripts/kms/demo.ts";
const cliDemoUsers = new Set(["scripts/kms/appCommands.ts", "scripts/kms/policyCommands.ts"]);

const sources = (dir: string): string[] =>
  [...Deno.readDirSync(dir)].flatMap((entry) =>
    skipped.has(entry.name)
      ? []
      : entry.isDirectory
      ? sources(join(dir, entry.name))
      : entry.name.endsWith(".ts")
      ? [join(dir, entry.name)]
      : []
  );

/**
 * The import targets in `text` of the file at `path` (static imports and re-exports, side-effect
 * imports, dynamic imports of a literal): repository paths for relative ones.
 */
const importsOf = (path: string, text: string): string[] =>
  [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"/gms),
    ...text.matchAll(/^\s*import\s+"([^"]+)"/gm),
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1].startsWith(".") ? normalize(join(dirname(path), m[1])) : m[1]);

const pinned = Object.keys(
  JSON.parse(Deno.readTextFileSync(join(root, "deno.json"))).imports as Record<string, string>,
);
/** A library pinned in deno.json (a name, or a path under a pinned prefix ending in `/`). */
const npm = (target: string) =>
  pinned.some((name) => name.endsWith("/") ? target.startsWith(name) : target === name);
const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);
const builtin = (target: string) => target.startsWith("node:");

interface Rule {
  readonly name: string;
  readonly applies: (file: string) => boolean;
  readonly allows: (target: string, file: string) => boolean;
}

const rules: Rule[] = [
  {
    name: "core imports only core and pinned npm libraries",
    applies: (f) => under(f, "core"),
    allows: (t) => under(t, "core") || npm(t),
  },
  {
    name: "ccf/app and ccf/constitution import only core and npm libraries",
    applies: (f) => under(f, "ccf/app") || under(f, "ccf/constitution"),
    allows: (t, f) => under(t, "core") || npm(t) || under(t, f.split("/").slice(0, 2).join("/")),
  },
  {
    name: "ccf/gov imports only itself, core, npm libraries and node built-ins",
    applies: (f) => under(f, "ccf/gov"),
    allows: (t) => under(t, "ccf/gov") || under(t, "core") || npm(t) || builtin(t),
  },
  {
    name: "the sandbox imports only itself, core, ccf/gov and libraries, never the app",
    applies: (f) => under(f, "ccf/sandbox"),
    allows: (t) =>
      under(t, "ccf/sandbox") || under(t, "core") || under(t, "ccf/gov") || npm(t) || builtin(t),
  },
  {
    name: "client imports core, itself and libraries, never the sandbox or scripts",
    applies: (f) => under(f, "client"),
    allows: (t) => under(t, "client") || under(t, "core") || npm(t) || builtin(t),
  },
  {
    name: "the CLI reaches the sandbox only through the package, in the demo module of the " +
      "commands with demo-only options",
    applies: (f) => under(f, "scripts/kms"),
    allows: (t, f) =>
      t === sandboxPackage
        ? f === cliDemo
        : t === cliDemo
        ? cliDemoUsers.has(f)
        : !under(t, "ccf/sandbox"),
  },
  {
    name: "outside the sandbox and its tests, the sandbox is used through its package only",
    applies: (f) => !under(f, "ccf/sandbox") && !under(f, "test/ccf/sandbox"),
    allows: (t) => !under(t, "ccf/sandbox"),
  },
];

/** Every import that breaks a rule, as `rule: path -> target`. */
const violations = (files: readonly { path: string; text: string }[]): string[] =>
  files.flatMap(({ path, text }) =>
    rules.filter((r) => r.applies(path)).flatMap((r) =>
      importsOf(path, text).filter((t) => !r.allows(t, path)).map((t) =>
        `${r.name}: ${path} -> ${t}`
      )
    )
  );

Deno.test("imports follow the layout's dependency rules", () => {
  const files = sources(root).map((file) => ({
    path: relative(root, file),
    text: Deno.readTextFileSync(file),
  }));
  assert.ok(files.length > 100, "the walk found the sources");
  assert.deepEqual(violations(files), []);
});

Deno.test("the rules catch violations: the app or the CLI on the sandbox, core on node", () => {
  const found = violations([
    { path: "ccf/app/probe.ts", text: 'import { KvStore } from "@kms/sandbox";\n' },
    { path: "core/probe.ts", text: 'import { readFileSync } from "node:fs";\n' },
    { path: "scripts/kms/probe.ts", text: 'export { KvStore } from "@kms/sandbox";\n' },
    { path: "scripts/demo.ts", text: 'import "../ccf/sandbox/kv.ts";\n' },
    { path: "client/probe.ts", text: 'import { x } from "../scripts/kms/cli.ts";\n' },
    { path: "test/bench/probe.ts", text: 'const m = await import("../../ccf/sandbox/kv.ts");\n' },
    { path: "scripts/kms/voting.ts", text: 'import { demoIssuer } from "./demo.ts";\n' },
  ]);
  assert.equal(found.length, 7, found.join("\n"));
  assert.match(found[0], /ccf\/app\/probe.ts -> @kms\/sandbox$/);
  assert.match(found[1], /core\/probe.ts -> node:fs$/);
  assert.match(found[2], /scripts\/kms\/probe.ts -> @kms\/sandbox$/);
  assert.match(found[3], /scripts\/demo.ts -> ccf\/sandbox\/kv.ts$/);
  assert.match(found[4], /client\/probe.ts -> scripts\/kms\/cli.ts$/);
  assert.match(found[5], /test\/bench\/probe.ts -> ccf\/sandbox\/kv.ts$/);
  assert.match(found[6], /scripts\/kms\/voting.ts -> scripts\/kms\/demo.ts$/);
});
