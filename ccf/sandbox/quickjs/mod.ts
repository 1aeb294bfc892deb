/**
 * The sandbox's QuickJS app runtime: runs a CCF JavaScript app bundle (the `set_js_app` bundle)
 * with CCF's globals, restrictions, dispatch and response rules.
 *
 * ```ts
 * const app = await createAppRuntime(bundle);
 * const tx = store.begin();
 * const response = app.handle({ method: "GET", path: "/app/listpubkeys" }, tx);
 * if (response.applyWrites) store.commit(tx);
 * ```
 */
export { type AppRuntime, createAppRuntime, DEFAULT_LIMITS, loadQuickJS } from "./runtime.ts";
export {
  type AppBundle,
  BundleError,
  type BundleModule,
  type EndpointInfo,
  type EndpointMode,
  type EndpointProperties,
  validateBundle,
} from "./bundle.ts";
export type { RouteMatch } from "./routing.ts";
export type {
  AppRequest,
  AppResponse,
  AppRuntimeOptions,
  ConsensusHooks,
  HistoricalKv,
  HistoricalState,
  HostValue,
  LogEntry,
  RequestHooks,
  TxStatus,
} from "./types.ts";
