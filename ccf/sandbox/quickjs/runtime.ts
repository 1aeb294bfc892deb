/**
 * Executes a CCF JavaScript app bundle in QuickJS the way a CCF node does: dispatch, one
 * interpreter per request (or per `interpreter_reuse` key and access, read-write apart from
 * read-only), the handler called synchronously with CCF's request object, and its return value
 * turned into a response by CCF's rules.
 *
 * The runtime never commits: it runs the handler against the caller's open transaction and says
 * in {@link AppResponse.applyWrites} whether CCF would keep the writes. The caller (the sandbox
 * node) authenticates before calling {@link AppRuntime.handle}, commits, and adds
 * `x-ms-ccf-transaction-id`.
 */
import type { QuickJSWASMModule } from "quickjs-emscripten";
import { DEFAULT_VIEW, type KvTransaction } from "../kv.ts";
import { type AppBundle, type EndpointInfo, moduleKey, validateBundle } from "./bundle.ts";
import { type QuickJSEngine, sharedEngine } from "./engine.ts";
import { EXCEPTION_MESSAGE, odataError, TIMEOUT_MESSAGE } from "./errors.ts";
import { HandlerCheck } from "./handlerCheck.ts";
import { cryptoRandom, hostState } from "./hostBridge.ts";
import {
  ExecutionError,
  Interpreter,
  type RequestMeta,
  type ResponseParts,
} from "./interpreter.ts";
import { ModuleTable } from "./moduleNames.ts";
import { type RouteMatch, Router } from "./routing.ts";
import type {
  AppRequest,
  AppResponse,
  AppRuntimeOptions,
  HistoricalState,
  HostValue,
  LogEntry,
  RequestHooks,
  RequestScope,
} from "./types.ts";

/** A loaded app bundle, ready to serve requests. */
export interface AppRuntime {
  /** Matches a request line against the bundle's endpoints (the node authenticates with it). */
  route(method: string, path: string): RouteMatch;
  /** Runs one request against `tx`; never throws for app failures (they become 500s). */
  handle(request: AppRequest, tx: KvTransaction, hooks?: RequestHooks): AppResponse;
  /** The endpoint table of `app.json` (method, templated path, properties), for `/app/api`. */
  endpoints(): readonly EndpointInfo[];
  /** Frees every cached interpreter. */
  dispose(): void;
}

/** How many times the execution budget loading (compiling) a bundle's modules may take. */
const moduleLoadBudget = 10;

/** CCF's default `js_runtime_options`. */
export const DEFAULT_LIMITS = {
  maxExecutionTimeMs: 1000,
  maxHeapBytes: 100 * 1024 * 1024,
  maxStackBytes: 1024 * 1024,
  maxCachedInterpreters: 10,
} as const;

/** The QuickJS WebAssembly instance currently in use (its `.wasm` ships in the npm package). */
export const loadQuickJS = async (): Promise<QuickJSWASMModule> => (await sharedEngine()).module;

const utf8 = new TextEncoder();

/**
 * Loads `bundle` (the `set_js_app` argument; throws `BundleError` if CCF would refuse it).
 * Asynchronous only because the QuickJS module loads asynchronously; requests are synchronous.
 */
export async function createAppRuntime(
  bundle: AppBundle,
  options: AppRuntimeOptions = {},
): Promise<AppRuntime> {
  const table = validateBundle(bundle);
  return new BundleRuntime(await sharedEngine(), bundle, table, options);
}

class BundleRuntime implements AppRuntime {
  readonly #engine: QuickJSEngine;
  readonly #modules: ModuleTable;
  readonly #table: readonly EndpointInfo[];
  readonly #router: Router;
  readonly #checks: HandlerCheck;
  readonly #options: AppRuntimeOptions;
  readonly #limits: {
    maxExecutionTimeMs: number;
    maxHeapBytes: number;
    maxStackBytes: number;
    maxCachedInterpreters: number;
  };
  readonly #cache = new Map<string, Interpreter>();

  constructor(
    engine: QuickJSEngine,
    bundle: AppBundle,
    table: readonly EndpointInfo[],
    options: AppRuntimeOptions,
  ) {
    this.#engine = engine;
    this.#modules = new ModuleTable(bundle.modules);
    this.#table = table;
    this.#router = new Router(table);
    this.#checks = new HandlerCheck(engine, this.#modules);
    this.#options = options;
    this.#limits = { ...DEFAULT_LIMITS, ...definedOnly(options) };
  }

  route(method: string, path: string): RouteMatch {
    return this.#router.match(method, path);
  }

  endpoints(): readonly EndpointInfo[] {
    return this.#table;
  }

  dispose(): void {
    for (const interpreter of this.#cache.values()) {
      if (interpreter.module === this.#engine.module) interpreter.dispose();
    }
    this.#cache.clear();
  }

  handle(request: AppRequest, tx: KvTransaction, hooks: RequestHooks = {}): AppResponse {
    const match = this.#router.match(request.method, request.path);
    switch (match.kind) {
      case "notFound":
        return framework(odataError(404, "ResourceNotFound", `Unknown path: ${match.path}.`));
      case "methodNotAllowed": {
        const allow = ["OPTIONS", ...match.allowed].join(", ");
        if (request.method.toUpperCase() === "OPTIONS") {
          return framework({ status: 204, headers: { allow }, body: new Uint8Array() });
        }
        const message = `Allowed methods for '${match.path}' are: ${allow}.`;
        return framework(odataError(405, "UnsupportedHttpVerb", message, undefined, { allow }));
      }
      case "ambiguous":
        return framework(
          odataError(
            500,
            "InternalError",
            `Multiple templated endpoints match '${match.path}': ${match.candidates.join(", ")}`,
          ),
        );
      case "endpoint":
        return this.#execute(request, match, tx, hooks);
    }
  }

  #execute(
    request: AppRequest,
    match: Extract<RouteMatch, { kind: "endpoint" }>,
    tx: KvTransaction,
    hooks: RequestHooks,
  ): AppResponse {
    const props = match.endpoint.properties;
    let historical: HistoricalState | undefined;
    if (props.mode === "historical") {
      const found = historicalTarget(request, tx, hooks);
      if (!("transactionId" in found)) return framework(found);
      historical = found;
    }
    const scope: RequestScope = {
      tx,
      readOnly: props.mode === "readonly" || props.mode === "historical",
      body: request.body ?? new Uint8Array(),
      hooks,
      logs: [],
      historicalKvs: [],
    };
    const historicalValue = historical && hostState(scope, historical);
    const reuseKey = props.interpreter_reuse?.key;
    // CCF keeps read-write and read-only interpreters apart even under one reuse key, so module
    // state never passes between a read-only and a read-write handler.
    const cacheKey = reuseKey === undefined
      ? undefined
      : `${reuseKey} (${scope.readOnly ? "ro" : "rw"})`;
    let interpreter: Interpreter | undefined;
    let parts: ResponseParts | undefined;
    let failure: ExecutionError | undefined;
    try {
      interpreter = cacheKey === undefined ? this.#fresh() : this.#reused(cacheKey);
      // CCF compiles modules to bytecode at deployment; this runtime compiles them when an
      // interpreter first loads them, in wasm, so loading gets a larger budget than the handler.
      interpreter.begin(scope, moduleLoadBudget * this.#limits.maxExecutionTimeMs);
      parts = this.#run(interpreter, request, match, historicalValue);
      interpreter.end();
    } catch (e) {
      interpreter?.end();
      if (e instanceof ExecutionError) {
        failure = e;
      } else {
        // Not an exception of app code: the host failed inside QuickJS (see engine.ts), or no
        // healthy instance is loaded yet. A failed instance is retired, never touched again.
        if (interpreter) this.#retire(interpreter.module);
        failure = new ExecutionError(`QuickJS engine failure: ${(e as Error)?.message ?? e}`);
        interpreter = undefined;
      }
    }
    if (interpreter && cacheKey === undefined) interpreter.dispose();
    const timedOut = interpreter?.timedOut ?? false;
    if (scope.fatal !== undefined) failure = new ExecutionError(scope.fatal);
    const response = failure || !parts
      ? this.#exceptionResponse(failure ?? new ExecutionError("no result"), timedOut)
      : this.#toResponse(parts, timedOut);
    const ok = response.status >= 200 && response.status < 300;
    return {
      ...response,
      applyWrites: scope.applyWrites ?? ok,
      ...(scope.claimsDigest ? { claimsDigest: scope.claimsDigest } : {}),
      logs: scope.logs,
    };
  }

  #run(
    interpreter: Interpreter,
    request: AppRequest,
    match: Extract<RouteMatch, { kind: "endpoint" }>,
    historical: HostValue | undefined,
  ): ResponseParts {
    const props = match.endpoint.properties;
    const name = moduleKey(props.js_module);
    interpreter.setHistoricalState(historical);
    const ns = interpreter.namespace(name);
    interpreter.restartClock(this.#limits.maxExecutionTimeMs);
    const problem = this.#checks.check(name, props.js_function);
    if (problem) throw new ExecutionError(problem);
    const handler = interpreter.exportedFunction(ns, props.js_function);
    if (!handler) {
      throw new ExecutionError(
        `Export '${props.js_function}' of module '${name}' is not a function`,
      );
    }
    try {
      return interpreter.call(handler, requestMeta(request, match), request.caller ?? null);
    } finally {
      handler.dispose();
    }
  }

  #toResponse(parts: ResponseParts, timedOut: boolean): Omit<AppResponse, "applyWrites" | "logs"> {
    if (parts.kind === "notObject") {
      return odataError(
        500,
        "InternalError",
        "Invalid endpoint function return value (not an object).",
      );
    }
    if (parts.kind === "invalid") {
      return this.#internalError(
        timedOut ? TIMEOUT_MESSAGE : parts.message,
        parts.reason,
        parts.trace || undefined,
      );
    }
    if (parts.status === "invalid") {
      return odataError(
        500,
        "InternalError",
        timedOut ? TIMEOUT_MESSAGE : "Invalid endpoint function return value (status code type).",
      );
    }
    const headers: Record<string, string> = {};
    if (parts.contentType !== undefined) headers["content-type"] = parts.contentType;
    for (const [name, value] of parts.headers) headers[name.toLowerCase()] = value;
    const body = parts.body === undefined
      ? new Uint8Array()
      : typeof parts.body === "string"
      ? utf8.encode(parts.body)
      : parts.body;
    return { status: parts.status ?? 200, headers, body };
  }

  #exceptionResponse(e: ExecutionError, timedOut: boolean) {
    return this.#internalError(timedOut ? TIMEOUT_MESSAGE : EXCEPTION_MESSAGE, e.reason, e.trace);
  }

  #internalError(message: string, reason: string, trace?: string) {
    if (this.#options.logExceptionDetails) {
      this.#log({ level: "fail", message: trace ? `${reason}\n${trace}` : reason });
    }
    const details = this.#options.returnExceptionDetails
      ? [{ code: "JSException", message: reason, ...(trace ? { trace } : {}) }]
      : undefined;
    return odataError(500, "InternalError", message, details);
  }

  #log(entry: LogEntry): void {
    this.#options.logSink?.(entry);
  }

  #retire(broken: QuickJSWASMModule): void {
    this.#engine.retire(broken);
    for (const [key, cached] of this.#cache) {
      if (cached.module === broken) this.#cache.delete(key);
    }
  }

  #fresh(): Interpreter {
    return new Interpreter(this.#engine.module, this.#modules, this.#limits, {
      random: this.#options.random ?? cryptoRandom,
      log: (entry) => this.#log(entry),
    });
  }

  #reused(key: string): Interpreter {
    let interpreter = this.#cache.get(key);
    this.#cache.delete(key);
    // An interpreter of a retired QuickJS instance is abandoned, never touched again.
    if (interpreter?.module !== this.#engine.module) interpreter = undefined;
    if (!interpreter) {
      interpreter = this.#fresh();
      while (this.#cache.size >= this.#limits.maxCachedInterpreters) {
        const [oldest, evicted] = this.#cache.entries().next().value!;
        this.#cache.delete(oldest);
        evicted.dispose();
      }
    }
    this.#cache.set(key, interpreter);
    return interpreter;
  }
}

/** How long the state of a historical endpoint's transaction stays cached, as in CCF. */
const HISTORICAL_EXPIRY_SECONDS = 1800;

const TX_ID_HEADER = "x-ms-ccf-transaction-id";

/**
 * The state a `mode: "historical"` endpoint runs on, from the transaction id the client names in
 * `x-ms-ccf-transaction-id`, or CCF's answer when there is none to run on yet: 400 for a missing
 * or malformed id, 404 for a transaction not committed (or invalid), 202 while it is fetched.
 */
function historicalTarget(
  request: AppRequest,
  tx: KvTransaction,
  hooks: RequestHooks,
): HistoricalState | Omit<AppResponse, "applyWrites" | "logs"> {
  const header = Object.entries(request.headers ?? {})
    .find(([name]) => name.toLowerCase() === TX_ID_HEADER)?.[1];
  if (header === undefined) {
    return odataError(
      400,
      "MissingRequiredHeader",
      `Historical query is missing '${TX_ID_HEADER}' header.`,
    );
  }
  const parsed = /^(\d+)\.(\d+)$/.exec(header);
  if (!parsed) {
    return odataError(
      400,
      "InvalidHeaderValue",
      `The value '${header}' in header '${TX_ID_HEADER}' could not be converted to a valid Tx ID.`,
    );
  }
  const [view, seqno] = [Number(parsed[1]), Number(parsed[2])];
  const txId = `${view}.${seqno}`;
  const status = hooks.consensus?.getStatusForTxId(view, seqno) ??
    (view === DEFAULT_VIEW && seqno >= 1 && seqno <= tx.startSeqno ? "Committed" : "Unknown");
  if (status === "Invalid") {
    return odataError(404, "TransactionInvalid", `Transaction ${txId} is not available.`);
  }
  if (status !== "Committed") {
    return odataError(
      404,
      "TransactionPendingOrUnknown",
      `Transaction ${txId} is not available.`,
      undefined,
      { "cache-control": "no-cache" },
    );
  }
  const state = hooks.historicalStateAt
    ? hooks.historicalStateAt(seqno)
    : hooks.getStateRange?.(-1 - seqno, seqno, seqno, HISTORICAL_EXPIRY_SECONDS)?.[0] ?? null;
  if (state === null) {
    return {
      status: 202,
      headers: { "retry-after": "3", "content-type": "text/plain" },
      body: utf8.encode(`Historical transaction ${txId} is not currently available.`),
    };
  }
  return state;
}

const framework = (
  e: { status: number; headers: Record<string, string>; body: Uint8Array },
): AppResponse => ({ ...e, applyWrites: false, logs: [] });

const definedOnly = (options: AppRuntimeOptions) =>
  Object.fromEntries(
    (["maxExecutionTimeMs", "maxHeapBytes", "maxStackBytes", "maxCachedInterpreters"] as const)
      .filter((k) => options[k] !== undefined)
      .map((k) => [k, options[k]]),
  ) as Partial<typeof DEFAULT_LIMITS>;

function requestMeta(
  request: AppRequest,
  match: Extract<RouteMatch, { kind: "endpoint" }>,
): RequestMeta {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.headers ?? {})) headers[k.toLowerCase()] = v;
  const query = request.query ?? "";
  return {
    headers,
    query,
    path: request.path,
    method: request.method.toUpperCase(),
    hostname: headers["host"] ?? null,
    route: match.route,
    url: query === "" ? request.path : `${request.path}?${query}`,
    params: { ...match.params },
  };
}
