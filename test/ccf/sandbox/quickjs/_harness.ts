/** Small hand-written bundles and shortcuts for the QuickJS runtime tests. */
import { KvStore } from "../../../../ccf/sandbox/kv.ts";
import {
  type AppBundle,
  type AppRequest,
  type AppResponse,
  type AppRuntime,
  type AppRuntimeOptions,
  createAppRuntime,
  type EndpointProperties,
  type RequestHooks,
} from "../../../../ccf/sandbox/quickjs/mod.ts";

/** Endpoint properties as `app.json` would give them. */
export const ep = (
  js_module: string,
  js_function: string,
  more: Partial<EndpointProperties> = {},
): EndpointProperties => ({
  js_module,
  js_function,
  mode: "readwrite",
  forwarding_required: "never",
  authn_policies: [],
  ...more,
});

/** A bundle from `{path: {method: props}}` and `{moduleName: source}`. */
export const bundleOf = (
  endpoints: Record<string, Record<string, EndpointProperties>>,
  modules: Record<string, string>,
): AppBundle => ({
  metadata: { endpoints },
  modules: Object.entries(modules).map(([name, module]) => ({ name, module })),
});

/** A runtime over one module `app.js` whose exports are all GET endpoints `/<export>`. */
export const singleModuleApp = (
  source: string,
  exports: string[],
  options?: AppRuntimeOptions,
  props: Partial<EndpointProperties> = {},
): Promise<AppRuntime> =>
  createAppRuntime(
    bundleOf(
      Object.fromEntries(exports.map((f) => [`/${f}`, { get: ep("app.js", f, props) }])),
      { "app.js": source },
    ),
    options,
  );

/** A store, and a way to run one request on a fresh transaction and commit as CCF would. */
export class Harness {
  readonly store = new KvStore();
  constructor(readonly app: AppRuntime) {}

  run(request: AppRequest | string, hooks?: RequestHooks): AppResponse {
    const req = typeof request === "string" ? { method: "GET", path: request } : request;
    const tx = this.store.begin();
    const response = this.app.handle(req, tx, hooks);
    if (response.applyWrites) this.store.commit(tx);
    return response;
  }
}

/** The body as text. */
export const text = (r: AppResponse): string => new TextDecoder().decode(r.body);
/** The body parsed as JSON. */
export const json = (r: AppResponse): unknown => JSON.parse(text(r));
/** CCF's body for an exception in app code. */
export const EXCEPTION_BODY = {
  error: { code: "InternalError", message: "Exception thrown while executing." },
};
