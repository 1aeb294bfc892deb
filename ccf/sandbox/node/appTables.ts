/**
 * The deployed app as CCF keeps it: modules in `public:ccf.gov.modules` (key `"/" + name`) and
 * endpoints in `public:ccf.gov.endpoints` (key `"<METHOD> <path>"`, `js_module` with a leading
 * `/`), the layout the default constitution's `set_js_app` writes (CCF's samples/constitutions/default/actions.js).
 * The node reads the app back from these tables at start and after each governance change.
 */
import type { KvTransaction } from "../kv.ts";
import {
  endpoints as endpointsTable,
  jsRuntimeOptions,
  modules as modulesTable,
  singletonKey,
} from "../govTables.ts";
import type {
  AppBundle,
  AppRuntimeOptions,
  BundleModule,
  EndpointProperties,
} from "../quickjs/mod.ts";
import { fromUtf8, utf8 } from "./types.ts";

/** Set by `set_js_app`; CCF's interpreters drop cached state when it changes. */
const INTERPRETER_FLUSH = "public:ccf.gov.interpreter.flush";

/** The maps whose change makes the node reload the app. */
export const APP_TABLES: readonly string[] = [modulesTable, endpointsTable, jsRuntimeOptions];

const withSlash = (name: string): string => (name.startsWith("/") ? name : `/${name}`);

/**
 * Replaces the deployed app by `bundle`, as the default constitution's `set_js_app` apply does.
 * Governance calls this from its action; tests and `--js-app-bundle` call it directly.
 */
export function writeAppBundle(tx: KvTransaction, bundle: AppBundle): void {
  tx.clear(modulesTable);
  tx.clear(endpointsTable);
  for (const m of bundle.modules) tx.set(modulesTable, utf8(withSlash(m.name)), utf8(m.module));
  for (const [path, methods] of Object.entries(bundle.metadata.endpoints)) {
    for (const [method, props] of Object.entries(methods)) {
      const stored = { ...props, js_module: withSlash(props.js_module) };
      tx.set(endpointsTable, utf8(`${method.toUpperCase()} ${path}`), utf8(JSON.stringify(stored)));
    }
  }
  tx.set(INTERPRETER_FLUSH, singletonKey, utf8("true"));
}

/** The deployed app, or `null` when no module is deployed. */
export function readAppBundle(tx: KvTransaction): AppBundle | null {
  const modules: BundleModule[] = [];
  tx.forEach(modulesTable, (value, key) => {
    modules.push({ name: fromUtf8(key).replace(/^\//, ""), module: fromUtf8(value) });
  });
  if (modules.length === 0) return null;
  const endpoints: Record<string, Record<string, EndpointProperties>> = {};
  tx.forEach(endpointsTable, (value, key) => {
    const text = fromUtf8(key);
    const space = text.indexOf(" ");
    const method = text.slice(0, space).toLowerCase();
    const path = text.slice(space + 1);
    (endpoints[path] ??= {})[method] = JSON.parse(fromUtf8(value));
  });
  modules.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { metadata: { endpoints }, modules };
}

/** `js_runtime_options` as the app runtime's options (CCF's defaults when unset). */
export function readRuntimeOptions(tx: KvTransaction): AppRuntimeOptions {
  const raw = tx.get(jsRuntimeOptions, singletonKey);
  if (raw === undefined) return {};
  const o = JSON.parse(fromUtf8(raw)) as Record<string, unknown>;
  const num = (k: string) => (typeof o[k] === "number" ? o[k] as number : undefined);
  const bool = (k: string) => (typeof o[k] === "boolean" ? o[k] as boolean : undefined);
  const options: Record<string, unknown> = {
    maxHeapBytes: num("max_heap_bytes"),
    maxStackBytes: num("max_stack_bytes"),
    maxExecutionTimeMs: num("max_execution_time_ms"),
    maxCachedInterpreters: num("max_cached_interpreters"),
    logExceptionDetails: bool("log_exception_details"),
    returnExceptionDetails: bool("return_exception_details"),
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : typeof value === "object" && value !== null
    ? Object.fromEntries(
      Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    )
    : value;

/** The form a bundle takes in the tables, for comparisons: slashes added, methods lower-case. */
const asStored = (bundle: AppBundle) => ({
  modules: bundle.modules.map((m) => ({ name: m.name.replace(/^\//, ""), module: m.module }))
    .sort((a, b) => (a.name < b.name ? -1 : 1)),
  endpoints: Object.fromEntries(
    Object.entries(bundle.metadata.endpoints).map(([path, methods]) => [
      path,
      Object.fromEntries(
        Object.entries(methods).map(([method, props]) => [
          method.toLowerCase(),
          { ...props, js_module: withSlash(props.js_module) },
        ]),
      ),
    ]),
  ),
});

/** Whether `bundle` is exactly the app deployed in the tables `tx` reads. */
export function isDeployed(tx: KvTransaction, bundle: AppBundle): boolean {
  const deployed = readAppBundle(tx);
  if (deployed === null) return false;
  return JSON.stringify(canonical(asStored(deployed))) ===
    JSON.stringify(canonical(asStored(bundle)));
}
