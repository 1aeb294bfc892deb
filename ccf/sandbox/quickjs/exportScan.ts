/**
 * Which exports of a module CCF can call as endpoint handlers.
 *
 * CCF finds a handler by walking the module's export entries and reading the entry's local
 * variable (its `quickjs-exports.c` patch). That works for QuickJS's *local* export entries only:
 * `export function f`, `export const f`, `export default`, `export { f as g }` (also when `f` was
 * imported: QuickJS records that as a local entry bound to the import). An `export { f } from "m"`
 * or `export * as f from "m"` entry is *indirect* (CCF would read an unset variable), and names
 * that come from `export * from "m"` have no entry at all ("Failed to find export"). QuickJS's
 * module namespace object hides the difference, so the runtime decides in two steps:
 *
 * 1. QuickJS itself says whether the name has an explicit export entry: the module is compiled
 *    (not run) with `export { probe as <name> }` appended ({@link probeSource}); QuickJS rejects
 *    that with "duplicate exported name" exactly when an entry with that name exists.
 * 2. A lexer of ES modules ({@link indirectExportNames}) finds the names of `export {...} from`
 *    and `export * as x from` statements; an entry with such a name is indirect.
 */
import { init, parse } from "es-module-lexer";

/** Name of the variable the probe declares; unlikely to clash with app code. */
const PROBE_VARIABLE = "__ccf_sandbox_export_probe__";

/** Message prefix of QuickJS's SyntaxError for an export name declared twice. */
export const DUPLICATE_EXPORT = "duplicate exported name";

const IDENTIFIER_NAME = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;

/** `source` with an export of `name` appended; compiles iff `name` has no export entry. */
export function probeSource(source: string, name: string): string {
  const exported = IDENTIFIER_NAME.test(name) ? name : JSON.stringify(name);
  return `${source}\n;var ${PROBE_VARIABLE};export { ${PROBE_VARIABLE} as ${exported} };\n`;
}

await init;

/**
 * The names of the module's indirect export entries: `export { a as b } from "m"` and
 * `export * as ns from "m"`. The lexer also calls an `export { g }` of an imported `g` a
 * re-export, but QuickJS records that one as a local entry: only an export inside an
 * `export ... from` statement (which starts where its import does) is indirect.
 */
export function indirectExportNames(source: string): Set<string> {
  const [imports, exports] = parse(source);
  return new Set(
    exports.flatMap((e) =>
      e.type === "reexport" && e.exportStart === imports[e.importIndex].importStart ? [e.name] : []
    ),
  );
}
