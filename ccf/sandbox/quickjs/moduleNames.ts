/**
 * Module specifier resolution as CCF does it: QuickJS's default name normaliser (CCF installs no
 * normaliser of its own), then a lookup of `"/" + name` among the bundle's modules.
 *
 * A specifier that does not start with `.` is used verbatim; one that does is resolved against
 * the importer's directory, consuming only leading `./` and `../` segments. There is no extension
 * guessing, no `index.js` and no package resolution, so `import ... from "@microsoft/ccf-app"`
 * fails to load.
 */
import { moduleKey } from "./bundle.ts";
import { newerSyntax } from "./syntaxCheck.ts";

/** QuickJS's `js_default_module_normalize_name`, re-implemented. */
export function normalizeModuleName(base: string, specifier: string): string {
  if (!specifier.startsWith(".")) return specifier;
  const slash = base.lastIndexOf("/");
  let dir = slash >= 0 ? base.slice(0, slash) : "";
  let rest = specifier;
  for (;;) {
    if (rest.startsWith("./")) {
      rest = rest.slice(2);
    } else if (rest.startsWith("../")) {
      if (dir === "") break;
      const cut = dir.lastIndexOf("/");
      const last = dir.slice(cut + 1);
      if (last === "." || last === "..") break;
      dir = dir.slice(0, Math.max(cut, 0));
      rest = rest.slice(3);
    } else {
      break;
    }
  }
  return dir === "" ? rest : `${dir}/${rest}`;
}

/** The bundle's module sources keyed as CCF stores them (`/` + name). */
export class ModuleTable {
  readonly #sources = new Map<string, string>();
  readonly #newerSyntax = new Map<string, string | undefined>();

  constructor(modules: readonly { readonly name: string; readonly module: string }[]) {
    for (const m of modules) this.#sources.set(moduleKey(m.name), m.module);
  }

  /** Source of the module a normalised name designates, or `undefined`. */
  source(name: string): string | undefined {
    return this.#sources.get(moduleKey(name));
  }

  /** Why CCF's QuickJS would refuse the module's syntax, if it would (checked once a module). */
  newerSyntax(name: string): string | undefined {
    const key = moduleKey(name);
    if (!this.#newerSyntax.has(key)) {
      const source = this.#sources.get(key);
      this.#newerSyntax.set(key, source === undefined ? undefined : newerSyntax(source));
    }
    return this.#newerSyntax.get(key);
  }
}
