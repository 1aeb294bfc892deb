/**
 * The host side of `ccf.refreshAppBytecodeCache()`: CCF compiles every module of the app as it
 * stands in the proposal's transaction and fails the proposal on the first that does not compile.
 * The sandbox compiles (never runs) each module in a throwaway QuickJS runtime whose loader serves
 * the other modules of the same app, so a missing import fails too, as in CCF. A module this
 * engine parses but CCF's older QuickJS does not (`syntaxCheck.ts`) fails as it would on CCF. It
 * keeps no bytecode: the app runtime compiles from source.
 */
import type { QuickJSWASMModule } from "quickjs-emscripten";
import { modules as modulesTable } from "../govTables.ts";
import type { KvTransaction } from "../kv.ts";
import { normalizeModuleName } from "../quickjs/moduleNames.ts";
import { newerSyntax } from "../quickjs/syntaxCheck.ts";
import { entries, fromUtf8 } from "./tables.ts";

const withSlash = (name: string): string => (name.startsWith("/") ? name : `/${name}`);

/** Compiles every module of the app in `tx`; throws an `Error` naming the first that fails. */
export function compileAppModules(module: QuickJSWASMModule, tx: KvTransaction): void {
  const sources = new Map(entries(tx, modulesTable).map(([k, v]) => [k, fromUtf8(v)]));
  for (const [key, source] of sources) {
    const refusal = newerSyntax(source);
    if (refusal !== undefined) {
      throw new Error(`Failed to compile module '${key}': SyntaxError: ${refusal}`);
    }
    const runtime = module.newRuntime();
    try {
      runtime.setModuleLoader(
        (name) =>
          sources.get(withSlash(name)) ?? { error: new Error(`could not load module '${name}'`) },
        (base, specifier) => normalizeModuleName(base, specifier),
      );
      const ctx = runtime.newContext();
      try {
        const result = ctx.evalCode(source, key.slice(1), { type: "module", compileOnly: true });
        if (result.error) {
          const e = ctx.dump(result.error) as { name?: string; message?: string } | string;
          result.error.dispose();
          const text = typeof e === "object" && e !== null
            ? `${e.name ?? "Error"}: ${e.message}`
            : String(e);
          throw new Error(`Failed to compile module '${key}': ${text}`);
        }
        result.value.dispose();
      } finally {
        ctx.dispose();
      }
    } finally {
      runtime.dispose();
    }
  }
}
