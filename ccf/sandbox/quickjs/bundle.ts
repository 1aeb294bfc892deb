/**
 * The `set_js_app` bundle as the runtime consumes it: its shape, the checks CCF's default
 * constitution makes before installing it, and the endpoint table derived from `app.json`.
 */

/** One module of the bundle: `name` relative to the app's `src/`, `/`-separated, no leading `/`. */
export interface BundleModule {
  /** The module's path within the bundle, e.g. `app.js`. */
  readonly name: string;
  /** The module's JavaScript source. */
  readonly module: string;
}

/** Endpoint execution mode; `historical` endpoints run read-only here. */
export type EndpointMode = "readwrite" | "readonly" | "historical";

/** Endpoint properties from `app.json` (unknown members are kept and ignored). */
export interface EndpointProperties {
  /** The module that defines the handler. */
  readonly js_module: string;
  /** The handler: a function the module defines and exports. */
  readonly js_function: string;
  /** `readwrite` (default), `readonly` or `historical`. */
  readonly mode?: EndpointMode;
  /** Authentication policies, any one of which admits a caller. */
  readonly authn_policies?: readonly (string | { readonly all_of: readonly string[] })[];
  /** Whether a backup forwards the request to the primary. */
  readonly forwarding_required?: "sometimes" | "always" | "never";
  /** Whether a node redirects the request elsewhere. */
  readonly redirection_strategy?: "none" | "to_primary" | "to_backup";
  /** Reuse one interpreter for every request with the same key. */
  readonly interpreter_reuse?: { readonly key: string };
  /** OpenAPI operation object served by `/app/api`. */
  readonly openapi?: Record<string, unknown>;
  /** Leave the endpoint out of `/app/api`. */
  readonly openapi_hidden?: boolean;
  /** Other properties CCF knows, kept as they are. */
  readonly [other: string]: unknown;
}

/** The `bundle` argument of `set_js_app`: `app.json` as metadata plus the module sources. */
export interface AppBundle {
  /** `app.json`: the endpoints by path and method. */
  readonly metadata: {
    readonly endpoints: Readonly<Record<string, Readonly<Record<string, EndpointProperties>>>>;
  };
  /** The modules. */
  readonly modules: readonly BundleModule[];
}

/** One row of the endpoint table: upper-case method, templated path (without `/app`). */
export interface EndpointInfo {
  /** The HTTP method, upper case. */
  readonly method: string;
  /** The path template, e.g. `/key` or `/items/{id}`. */
  readonly path: string;
  /** The endpoint's properties. */
  readonly properties: EndpointProperties;
}

/** A bundle that CCF's default constitution would refuse. */
export class BundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BundleError";
  }
}

/** CCF's key of a module in `public:ccf.gov.modules`: the name with a leading `/`. */
export const moduleKey = (name: string): string => (name.startsWith("/") ? name : `/${name}`);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const oneOf = (v: unknown, values: readonly string[]) =>
  typeof v === "string" && values.includes(v);

/**
 * Checks `bundle` as the default constitution's `set_js_app` validation does (module names and
 * sources are strings, every endpoint names an existing module and a function, enumerated
 * properties hold known values) and returns the endpoint table, sorted by path then method.
 */
export function validateBundle(bundle: unknown): EndpointInfo[] {
  if (!isRecord(bundle) || !isRecord(bundle.metadata) || !Array.isArray(bundle.modules)) {
    throw new BundleError("bundle must be {metadata: {endpoints}, modules: [...]}");
  }
  const names = new Set<string>();
  for (const [i, m] of bundle.modules.entries()) {
    if (!isRecord(m) || typeof m.name !== "string" || typeof m.module !== "string") {
      throw new BundleError(`modules[${i}] must have string name and module`);
    }
    names.add(moduleKey(m.name));
  }
  const endpoints = bundle.metadata.endpoints;
  if (!isRecord(endpoints)) throw new BundleError("metadata.endpoints must be an object");
  const table: EndpointInfo[] = [];
  for (const [path, methods] of Object.entries(endpoints)) {
    if (!path.startsWith("/")) throw new BundleError(`endpoint path '${path}' must start with /`);
    if (!isRecord(methods)) throw new BundleError(`endpoint '${path}' must map methods`);
    for (const [method, props] of Object.entries(methods)) {
      const where = `${method} ${path}`;
      if (!isRecord(props)) throw new BundleError(`${where}: properties must be an object`);
      if (typeof props.js_module !== "string" || typeof props.js_function !== "string") {
        throw new BundleError(`${where}: js_module and js_function must be strings`);
      }
      if (!names.has(moduleKey(props.js_module))) {
        throw new BundleError(`${where}: js_module '${props.js_module}' is not in modules`);
      }
      if (props.mode !== undefined && !oneOf(props.mode, ["readwrite", "readonly", "historical"])) {
        throw new BundleError(`${where}: unknown mode '${String(props.mode)}'`);
      }
      const reuse = props.interpreter_reuse;
      if (reuse !== undefined && (!isRecord(reuse) || typeof reuse.key !== "string")) {
        throw new BundleError(`${where}: interpreter_reuse must be {key: string}`);
      }
      table.push({
        method: method.toUpperCase(),
        path,
        properties: props as unknown as EndpointProperties,
      });
    }
  }
  return table.sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : a.method < b.method ? -1 : 1
  );
}
