/**
 * Decides, once per (module, function), whether CCF could call the function as a handler: it
 * must be a *local* export of the module the endpoint names (see `exportScan.ts`). The QuickJS
 * half of the check compiles a probe in a scratch runtime, apart from any app interpreter.
 */
import type { QuickJSEngine } from "./engine.ts";
import { DUPLICATE_EXPORT, indirectExportNames, probeSource } from "./exportScan.ts";
import { type ModuleTable, normalizeModuleName } from "./moduleNames.ts";

/** Caches handler checks for one bundle. */
export class HandlerCheck {
  readonly #engine: QuickJSEngine;
  readonly #modules: ModuleTable;
  readonly #verdicts = new Map<string, string | undefined>();

  constructor(engine: QuickJSEngine, modules: ModuleTable) {
    this.#engine = engine;
    this.#modules = modules;
  }

  /**
   * `undefined` when `exportName` is a local export of module `name` (`/`-prefixed); otherwise
   * CCF's error message. Call it after the module loaded: a module that does not compile has no
   * exports here.
   */
  check(name: string, exportName: string): string | undefined {
    const key = `${name}\u0000${exportName}`;
    if (!this.#verdicts.has(key)) this.#verdicts.set(key, this.#decide(name, exportName));
    return this.#verdicts.get(key);
  }

  #decide(name: string, exportName: string): string | undefined {
    const source = this.#modules.source(name);
    if (source === undefined) return undefined;
    const notFound = `Failed to find export '${exportName}' in module '${name}'`;
    // The duplicate is reported while parsing the appended statement, before QuickJS looks at
    // other modules; any other outcome means the name has no export entry.
    const compileMessage = this.#compileMessage(name, probeSource(source, exportName));
    if (!compileMessage?.startsWith(DUPLICATE_EXPORT)) return notFound;
    return indirectExportNames(source).has(exportName) ? notFound : undefined;
  }

  /** The error message of compiling `source` as a module, or `undefined` if it compiles. */
  #compileMessage(name: string, source: string): string | undefined {
    const runtime = this.#engine.module.newRuntime();
    try {
      // QuickJS may load `export *` targets while compiling; empty stand-ins are enough.
      runtime.setModuleLoader(() => "", (base, specifier) => normalizeModuleName(base, specifier));
      const ctx = runtime.newContext();
      try {
        const r = ctx.evalCode(source, name, { type: "module", compileOnly: true });
        if (!r.error) {
          r.value.dispose();
          return undefined;
        }
        const e = r.error.consume((h) => ctx.dump(h)) as { message?: unknown };
        return String(e?.message ?? e);
      } finally {
        ctx.dispose();
      }
    } finally {
      runtime.dispose();
    }
  }
}
