/**
 * One CCF interpreter: a QuickJS runtime and context with the `ccf` environment installed, the
 * bundle's module loader, and the modules it has evaluated so far.
 *
 * A fresh interpreter serves one request; an `interpreter_reuse` key keeps one alive across
 * requests (one for the key's read-write handlers, another for its read-only ones), so module
 * top-level code runs once and module state persists, as in CCF.
 */
import type {
  QuickJSContext,
  QuickJSHandle,
  QuickJSRuntime,
  QuickJSWASMModule,
} from "quickjs-emscripten";
import { createHostObject } from "./hostBridge.ts";
import { type ModuleTable, normalizeModuleName } from "./moduleNames.ts";
// The JavaScript that installs CCF's app environment, in a file of its own so that `deno lint` and
// `deno check` see it.
import PRELUDE_SOURCE from "./prelude.js" with { type: "text" };
import type { LogEntry, RequestScope } from "./types.ts";
import { errorText, type HostValue, importNamespace, intTagTest, toVm } from "./values.ts";

/** A failure of app code; `reason` and `trace` feed the optional exception details. */
export class ExecutionError extends Error {
  constructor(readonly reason: string, readonly trace?: string) {
    super(reason);
    this.name = "ExecutionError";
  }
}

/** Limits applied to every interpreter. */
export interface InterpreterLimits {
  readonly maxHeapBytes: number;
  readonly maxStackBytes: number;
}

/**
 * Ceiling of QuickJS's own stack limit. QuickJS measures its shadow stack in linear memory while
 * its frames also consume the host's native stack; above about this much, plain recursion in app
 * code overflows the host first (see `engine.ts`) instead of raising QuickJS's catchable
 * "stack overflow" as on CCF.
 */
export const QUICKJS_STACK_CEILING = 256 * 1024;

/** The parts of a response the prelude read from the handler's return value. */
export type ResponseParts =
  | { readonly kind: "notObject" }
  | {
    readonly kind: "invalid";
    readonly message: string;
    readonly reason: string;
    readonly trace?: string;
  }
  | {
    readonly kind: "ok";
    readonly body: Uint8Array | string | undefined;
    readonly contentType: string | undefined;
    readonly headers: ReadonlyArray<readonly [string, string]>;
    /** `undefined` for absent/null, `"invalid"` for anything but an int-tagged number. */
    readonly status: number | "invalid" | undefined;
  };

/** Request metadata as `makeRequest` receives it. */
export interface RequestMeta {
  readonly headers: Record<string, string>;
  readonly query: string;
  readonly path: string;
  readonly method: string;
  readonly hostname: string | null;
  readonly route: string;
  readonly url: string;
  readonly params: Record<string, string>;
}

const ENTRY_MODULE = "<ccf-sandbox-entry>";

/** A QuickJS runtime + context set up like a CCF app interpreter. */
export class Interpreter {
  /** The QuickJS instance this interpreter lives in. */
  readonly module: QuickJSWASMModule;
  readonly #runtime: QuickJSRuntime;
  readonly #ctx: QuickJSContext;
  readonly #makeRequest: QuickJSHandle;
  readonly #readResponse: QuickJSHandle;
  readonly #setHistoricalState: QuickJSHandle;
  readonly #disposeHost: () => void;
  readonly #isIntTagged: (h: QuickJSHandle) => boolean;
  readonly #namespaces = new Map<string, QuickJSHandle>();
  #scope: RequestScope | undefined;
  #deadline = Infinity;
  #timedOut = false;

  constructor(
    module: QuickJSWASMModule,
    modules: ModuleTable,
    limits: InterpreterLimits,
    env: { readonly random: () => number; readonly log: (entry: LogEntry) => void },
  ) {
    this.module = module;
    this.#runtime = module.newRuntime();
    this.#runtime.setMemoryLimit(limits.maxHeapBytes);
    this.#runtime.setMaxStackSize(Math.min(limits.maxStackBytes, QUICKJS_STACK_CEILING));
    this.#runtime.setModuleLoader(
      (name) => {
        const source = modules.source(name);
        if (source === undefined) {
          return { error: new Error(`Module '${name}' could not be loaded`) };
        }
        const refusal = modules.newerSyntax(name);
        return refusal === undefined ? source : { error: new SyntaxError(refusal) };
      },
      (base, specifier) => normalizeModuleName(base, specifier),
    );
    this.#runtime.setInterruptHandler(() => {
      if (performance.now() < this.#deadline) return false;
      this.#timedOut = true;
      return true;
    });
    this.#ctx = this.#runtime.newContext();
    const ctx = this.#ctx;
    const { host, dispose } = createHostObject(ctx, {
      scope: () => this.#scope,
      random: env.random,
      log: env.log,
    });
    this.#disposeHost = dispose;
    const prelude = ctx.unwrapResult(ctx.evalCode(PRELUDE_SOURCE, "<ccf-sandbox-prelude>"));
    const internals = ctx.unwrapResult(ctx.callFunction(prelude, ctx.undefined, host));
    prelude.dispose();
    host.dispose();
    this.#makeRequest = ctx.getProp(internals, "makeRequest");
    this.#readResponse = ctx.getProp(internals, "readResponse");
    this.#setHistoricalState = ctx.getProp(internals, "setHistoricalState");
    internals.dispose();
    this.#isIntTagged = intTagTest(module, ctx);
  }

  /** Whether the current request ran out of time (the interrupt handler fired). */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** Binds `scope` and starts the execution budget of one request. */
  begin(scope: RequestScope, maxExecutionTimeMs: number): void {
    this.#scope = scope;
    this.#timedOut = false;
    this.#deadline = performance.now() + maxExecutionTimeMs;
  }

  /** Restarts the execution budget of the current request. */
  restartClock(maxExecutionTimeMs: number): void {
    this.#deadline = performance.now() + maxExecutionTimeMs;
  }

  /** Unbinds the request; the interpreter may serve another one (reuse) or be disposed. */
  end(): void {
    this.#scope = undefined;
    this.#deadline = Infinity;
  }

  /**
   * Sets `ccf.historicalState` (a state from `hostState`), or removes it: call before loading
   * modules, which may read it at their top level.
   */
  setHistoricalState(state: HostValue | undefined): void {
    const ctx = this.#ctx;
    const handle = state === undefined ? ctx.undefined : toVm(ctx, state);
    const result = ctx.callFunction(this.#setHistoricalState, ctx.undefined, handle);
    if (state !== undefined) handle.dispose();
    if (result.error) throw this.#failure(result.error, "Failed to set historical state");
    result.value.dispose();
  }

  /**
   * The namespace of module `name` (`/`-prefixed), evaluating it and its imports on first use.
   * Throws {@link ExecutionError} if a module is missing, does not compile or throws.
   */
  namespace(name: string): QuickJSHandle {
    const cached = this.#namespaces.get(name);
    if (cached) return cached;
    // CCF compiles KV module "/x.js" under the QuickJS name "x.js", which relative imports of
    // other modules then resolve to: importing that name keeps one instance per module.
    const quickjsName = name.startsWith("/") ? name.slice(1) : name;
    const loaded = importNamespace(this.#ctx, quickjsName, ENTRY_MODULE);
    if (!loaded.ok) {
      throw new ExecutionError(`Failed to load module '${name}': ${loaded.reason}`, loaded.trace);
    }
    const { ns } = loaded;
    this.#namespaces.set(name, ns);
    return ns;
  }

  /** The value of export `exportName` of a loaded namespace, if it is a function. */
  exportedFunction(ns: QuickJSHandle, exportName: string): QuickJSHandle | undefined {
    const ctx = this.#ctx;
    const f = ctx.getProp(ns, exportName);
    if (ctx.typeof(f) === "function") return f;
    f.dispose();
    return undefined;
  }

  /** Calls `handler(request)` with `this` undefined and reads the response parts. */
  call(handler: QuickJSHandle, meta: RequestMeta, caller: HostValue): ResponseParts {
    const ctx = this.#ctx;
    const metaHandle = ctx.newString(JSON.stringify(meta));
    const callerHandle = toVm(ctx, caller);
    const req = ctx.callFunction(this.#makeRequest, ctx.undefined, metaHandle, callerHandle);
    metaHandle.dispose();
    callerHandle.dispose();
    if (req.error) throw this.#failure(req.error, "Failed to create request object");
    const result = ctx.callFunction(handler, ctx.undefined, req.value);
    req.value.dispose();
    if (result.error) throw this.#failure(result.error);
    const parts = ctx.callFunction(this.#readResponse, ctx.undefined, result.value);
    result.value.dispose();
    if (parts.error) throw this.#failure(parts.error);
    try {
      return this.#responseParts(parts.value);
    } finally {
      parts.value.dispose();
    }
  }

  /** Frees the context and runtime. */
  dispose(): void {
    for (const ns of this.#namespaces.values()) ns.dispose();
    this.#namespaces.clear();
    this.#makeRequest.dispose();
    this.#readResponse.dispose();
    this.#setHistoricalState.dispose();
    this.#disposeHost();
    this.#ctx.dispose();
    this.#runtime.dispose();
  }

  #responseParts(arr: QuickJSHandle): ResponseParts {
    const ctx = this.#ctx;
    const at = (i: number) => ctx.getProp(arr, i);
    const kind = at(0).consume((h) => ctx.getNumber(h));
    if (kind === 0) return { kind: "notObject" };
    if (kind === 1) {
      return {
        kind: "invalid",
        message: at(1).consume((h) => ctx.getString(h)),
        reason: at(2).consume((h) => ctx.getString(h)),
        trace: at(3).consume((h) => ctx.typeof(h) === "string" ? ctx.getString(h) : undefined),
      };
    }
    const body = at(1).consume((h) => {
      const t = ctx.typeof(h);
      if (t === "undefined") return undefined;
      if (t === "string") return ctx.getString(h);
      const view = ctx.getArrayBuffer(h);
      try {
        return view.value.slice();
      } finally {
        view.dispose();
      }
    });
    const contentType = at(2).consume((h) =>
      ctx.typeof(h) === "string" ? ctx.getString(h) : undefined
    );
    const headers = at(3).consume((flat) => {
      const pairs: Array<[string, string]> = [];
      const n = ctx.getLength(flat) ?? 0;
      const item = (i: number) => ctx.getProp(flat, i).consume((h) => ctx.getString(h));
      for (let i = 0; i + 1 < n; i += 2) pairs.push([item(i), item(i + 1)]);
      return pairs;
    });
    const status = at(4).consume((h) => {
      if (ctx.typeof(h) === "undefined") return undefined;
      return this.#isIntTagged(h) ? ctx.getNumber(h) : "invalid" as const;
    });
    return { kind: "ok", body, contentType, headers, status };
  }

  #failure(error: QuickJSHandle, context?: string): ExecutionError {
    const { reason, trace } = errorText(this.#ctx, error);
    return new ExecutionError(context ? `${context}: ${reason}` : reason, trace);
  }
}
