/**
 * A QuickJS context set up the way CCF runs constitution code: the app environment of the prelude
 * (converters, `ccf.crypto`, `ccf.kv`, `console`, `Math.random`, the `Date` stub) with the
 * governance permissions on `ccf.kv` instead of the app ones, without the request-bound
 * `ccf.rpc`, `ccf.historical` and `ccf.consensus`, and, for `apply` only, the governance effects
 * (`ccf.setJwtPublicSigningKeys`, `ccf.removeJwtPublicSigningKeys`,
 * `ccf.refreshAppBytecodeCache`, `ccf.node`, `ccf.network`).
 *
 * Like CCF, every call gets a fresh context: `validate`, each ballot, `resolve` and `apply` share
 * nothing but the transaction.
 */
import type { QuickJSContext, QuickJSHandle, QuickJSWASMModule } from "quickjs-emscripten";
import type { KvTransaction } from "../kv.ts";
import type { GovernanceHost } from "./host.d.ts";
import { createHostObject, cryptoRandom } from "./hostBridge.ts";
import { QUICKJS_STACK_CEILING } from "./interpreter.ts";
import { governanceContextName, governanceMapPermission } from "./kvPermissions.ts";
import { normalizeModuleName } from "./moduleNames.ts";
// The JavaScript that installs CCF's app environment, in a file of its own so that `deno lint` and
// `deno check` see it.
import PRELUDE_SOURCE from "./prelude.js" with { type: "text" };
// The governance part of `ccf`, in a file of its own so that `deno lint` and `deno check` see it.
import GOVERNANCE_PRELUDE from "./governancePrelude.js" with { type: "text" };
import type { LogEntry, RequestScope } from "./types.ts";
import { errorText, type HostValue, importNamespace, toVm } from "./values.ts";

/** What `apply` may ask of the node beyond the KV (CCF's `GovEffectsExtension`). */
export interface GovernanceEffects {
  /** Replaces the keys of `issuer` by those of `jwks` (JSON values as the constitution gave them). */
  setJwtPublicSigningKeys(issuer: string, metadata: unknown, jwks: unknown): void;
  /** Removes every key of `issuer`. */
  removeJwtPublicSigningKeys(issuer: string): void;
  /** Compiles every module of the app in the transaction; throws on the first that does not. */
  refreshAppBytecodeCache(): void;
}

/** Limits of one call (CCF applies `js_runtime_options`, never lower than the defaults). */
export interface GovernanceLimits {
  readonly maxExecutionTimeMs: number;
  readonly maxHeapBytes: number;
  readonly maxStackBytes: number;
}

/** One call of an exported function of a governance module. */
export interface GovernanceCall {
  /** The module source: the constitution or a ballot. */
  readonly source: string;
  /** The name the module is compiled under, shown in stack traces. */
  readonly moduleName: string;
  readonly exportName: string;
  readonly args: readonly HostValue[];
  readonly tx: KvTransaction;
  /** `true` for `apply`: governance maps writable and the effects installed. */
  readonly applying: boolean;
  /** Required when `applying`. */
  readonly effects?: GovernanceEffects;
  readonly limits: GovernanceLimits;
  readonly log?: (entry: LogEntry) => void;
  readonly random?: () => number;
}

/** The function's return value (as JSON-like data), or why it failed. */
export type GovernanceResult =
  | { readonly ok: true; readonly value: unknown }
  | {
    readonly ok: false;
    readonly reason: string;
    readonly trace?: string;
    /** The QuickJS instance itself failed (not the script): retire it. */
    readonly engineFailure?: boolean;
  };

/** CCF's reason when the interrupt handler stopped constitution code. */
const GOVERNANCE_TIMEOUT = "Operation took too long to complete.";

const ENTRY = "<ccf-governance-entry>";

class ScriptFailure extends Error {
  constructor(readonly reason: string, readonly trace?: string) {
    super(reason);
  }
}

/**
 * Compiles `call.source` as an ES module, calls its export `call.exportName` with `call.args`
 * (`this` undefined) and returns the result as JSON-like data. Never throws for failures of the
 * script; they come back as `{ok: false}` with CCF's reason text.
 */
export function runGovernanceFunction(
  module: QuickJSWASMModule,
  call: GovernanceCall,
): GovernanceResult {
  const runtime = module.newRuntime();
  let deadline = Infinity;
  let timedOut = false;
  const handles: QuickJSHandle[] = [];
  let ctx: QuickJSContext | undefined;
  let disposeHost: (() => void) | undefined;
  let result: GovernanceResult;
  try {
    runtime.setMemoryLimit(call.limits.maxHeapBytes);
    runtime.setMaxStackSize(Math.min(call.limits.maxStackBytes, QUICKJS_STACK_CEILING));
    runtime.setModuleLoader(
      (name) =>
        name === call.moduleName
          ? call.source
          : { error: new Error(`Module '${name}' could not be loaded`) },
      (base, specifier) => normalizeModuleName(base, specifier),
    );
    runtime.setInterruptHandler(() => {
      if (performance.now() < deadline) return false;
      timedOut = true;
      return true;
    });
    ctx = runtime.newContext();
    const c = ctx;
    const keep = (h: QuickJSHandle) => (handles.push(h), h);
    const scope: RequestScope = {
      tx: call.tx,
      readOnly: !call.applying,
      body: new Uint8Array(),
      hooks: {},
      logs: [],
      historicalKvs: [],
    };
    const host = createHostObject(c, {
      scope: () => scope,
      random: call.random ?? cryptoRandom,
      log: (entry) => call.log?.(entry),
    });
    disposeHost = host.dispose;
    keep(host.host);
    // Replacing the host's permission lookup is what turns the app `ccf.kv` into the governance
    // one: every other KV primitive acts on the transaction the same way.
    // Governance code has no historical states, so the KV is always the proposal's transaction.
    const kvAccess = keep(c.newFunction("kvAccess", (_source, name) => {
      const permission = governanceMapPermission(c.getString(name), call.applying);
      return toVm(c, [permission, governanceContextName(call.applying)]);
    }));
    c.setProp(host.host, "kvAccess", kvAccess);

    deadline = performance.now() + call.limits.maxExecutionTimeMs;
    const prelude = keep(c.unwrapResult(c.evalCode(PRELUDE_SOURCE, "<ccf-sandbox-prelude>")));
    keep(c.unwrapResult(c.callFunction(prelude, c.undefined, host.host)));
    const effects = keep(c.newObject());
    const effect = (name: keyof GovernanceHost, f: (...args: string[]) => void) => {
      const fn = c.newFunction(name, (...args) => {
        f(...args.map((a) => c.getString(a)));
      });
      c.setProp(effects, name, fn);
      fn.dispose();
    };
    if (call.applying) {
      const e = call.effects;
      if (!e) throw new Error("apply needs the governance effects");
      effect(
        "setJwtPublicSigningKeys",
        (issuer, metadata, jwks) =>
          e.setJwtPublicSigningKeys(issuer, JSON.parse(metadata), JSON.parse(jwks)),
      );
      effect("removeJwtPublicSigningKeys", (issuer) => e.removeJwtPublicSigningKeys(issuer));
      effect("refreshAppBytecodeCache", () => e.refreshAppBytecodeCache());
    }
    const govPrelude = keep(c.unwrapResult(c.evalCode(GOVERNANCE_PRELUDE, "<ccf-gov-prelude>")));
    keep(c.unwrapResult(
      c.callFunction(govPrelude, c.undefined, effects, call.applying ? c.true : c.false),
    ));

    const fn = keep(exportedFunction(c, call));
    const args = call.args.map((a) => keep(toVm(c, a)));
    const called = c.callFunction(fn, c.undefined, ...args);
    if (called.error) {
      const { reason, trace } = errorText(c, called.error);
      throw new ScriptFailure(reason, trace);
    }
    const value = keep(called.value);
    let dumped: unknown;
    try {
      dumped = c.dump(value);
    } catch (e) {
      throw new ScriptFailure(`the return value cannot be read: ${(e as Error).message}`);
    }
    result = { ok: true, value: dumped };
  } catch (e) {
    result = failureOf(e, timedOut);
  }
  if ("engineFailure" in result && result.engineFailure) return result;
  try {
    for (const h of handles.reverse()) {
      if (h.alive) h.dispose();
    }
    disposeHost?.();
    ctx?.dispose();
    runtime.dispose();
  } catch (e) {
    // Host-stack exhaustion inside QuickJS (see engine.ts) can leave the runtime unable to free
    // itself even though the script's error was caught: the instance must be retired.
    return engineFailure(e);
  }
  return result;
}

const engineFailure = (e: unknown): GovernanceResult => ({
  ok: false,
  reason: `QuickJS engine failure: ${e instanceof Error ? e.message : String(e)}`,
  engineFailure: true,
});

function failureOf(e: unknown, timedOut: boolean): GovernanceResult {
  if (e instanceof ScriptFailure) {
    return { ok: false, reason: timedOut ? GOVERNANCE_TIMEOUT : e.reason, trace: e.trace };
  }
  if (timedOut) return { ok: false, reason: GOVERNANCE_TIMEOUT };
  // quickjs-emscripten raises the VM's own errors from unwrapResult as host errors carrying the
  // dumped error (`cause`); anything else is a failure of the engine, not of the script.
  const fromVm = typeof e === "object" && e !== null && "cause" in e;
  return fromVm ? { ok: false, reason: (e as Error).message } : engineFailure(e);
}

/** Evaluates the module (top-level code included) and returns its export, or throws. */
function exportedFunction(ctx: QuickJSContext, call: GovernanceCall): QuickJSHandle {
  const loaded = importNamespace(ctx, call.moduleName, ENTRY);
  if (!loaded.ok) {
    throw new ScriptFailure(`Failed to load ${call.moduleName}: ${loaded.reason}`, loaded.trace);
  }
  const { ns } = loaded;
  const f = ctx.getProp(ns, call.exportName);
  ns.dispose();
  if (ctx.typeof(f) !== "function") {
    f.dispose();
    throw new ScriptFailure(
      `Export '${call.exportName}' of module '${call.moduleName}' is not a function`,
    );
  }
  return f;
}
