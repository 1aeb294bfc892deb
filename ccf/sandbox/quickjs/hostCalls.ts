/**
 * A direct path for calls from QuickJS into host functions.
 *
 * quickjs-emscripten dispatches every such call through a generator-driven scope that wraps `this`
 * and each argument in a managed handle (a copy of the value, freed afterwards): about 2.5 µs a
 * call in Deno, where the call itself costs 0.1-0.3 µs. Each `ccf.kv` read, `console.log` or
 * `ccf.strToBuf` of app code is such a call, so a context's dispatcher is replaced by one that
 * lends the arguments as borrowed handles and keeps the library's contract otherwise: the
 * returned handle is duplicated into QuickJS and freed, `undefined` becomes QuickJS `undefined`,
 * and a thrown handle (or `Error`) is thrown in QuickJS.
 *
 * The dispatcher is a field of the library's context, not public API: the installer checks the
 * shape it relies on (quickjs-emscripten is pinned in deno.json) and leaves the library's own
 * path in place when it differs.
 */
import { type QuickJSContext, type QuickJSHandle, StaticLifetime } from "quickjs-emscripten";

type Pointer = number;

/** The internals of a quickjs-emscripten 0.32 context that the direct path uses. */
interface ContextInternals {
  readonly cToHostCallbacks: {
    callFunction: (
      ctx: Pointer,
      thisPtr: Pointer,
      argc: number,
      argv: Pointer,
      fnId: number,
    ) => Pointer;
  };
  readonly ctx: { readonly value: Pointer };
  readonly runtime: unknown;
  readonly ffi: {
    QTS_ArgvGetJSValueConstPointer(argv: Pointer, i: number): Pointer;
    QTS_DupValuePointer(ctx: Pointer, value: Pointer): Pointer;
    QTS_Throw(ctx: Pointer, error: Pointer): Pointer;
  };
  getFunction(fnId: number): (this: QuickJSHandle, ...args: QuickJSHandle[]) => unknown;
  errorToHandle(error: unknown): QuickJSHandle;
}

const isFunction = (v: unknown) => typeof v === "function";

const internalsOf = (ctx: QuickJSContext): ContextInternals | undefined => {
  const c = ctx as unknown as Partial<ContextInternals>;
  const ffi = c.ffi;
  const shaped = isFunction(c.cToHostCallbacks?.callFunction) && isFunction(c.getFunction) &&
    isFunction(c.errorToHandle) && typeof c.ctx?.value === "number" && ffi !== undefined &&
    isFunction(ffi.QTS_ArgvGetJSValueConstPointer) && isFunction(ffi.QTS_DupValuePointer) &&
    isFunction(ffi.QTS_Throw);
  return shaped ? c as ContextInternals : undefined;
};

/**
 * Routes the host functions of `ctx` (made with `ctx.newFunction`, before or after) through the
 * direct path. Host functions must not keep their argument handles past the call (none of the
 * sandbox's does). Returns whether the direct path is in place.
 */
export function installDirectHostCalls(ctx: QuickJSContext): boolean {
  const c = internalsOf(ctx);
  if (!c) return false;
  const { ffi, runtime } = c;
  const ctxPtr = c.ctx.value;
  const borrowed = (ptr: Pointer) => new StaticLifetime(ptr, runtime as never) as QuickJSHandle;
  c.cToHostCallbacks.callFunction = (calledCtx, thisPtr, argc, argv, fnId) => {
    if (calledCtx !== ctxPtr) {
      throw new Error("QuickJSContext instance received C -> JS call with mismatched ctx");
    }
    const fn = c.getFunction(fnId);
    const args = new Array<QuickJSHandle>(argc);
    for (let i = 0; i < argc; i++) args[i] = borrowed(ffi.QTS_ArgvGetJSValueConstPointer(argv, i));
    let result: unknown;
    try {
      result = fn.apply(borrowed(thisPtr), args);
    } catch (error) {
      const handle = c.errorToHandle(error);
      try {
        return ffi.QTS_Throw(ctxPtr, handle.value as unknown as Pointer);
      } finally {
        handle.dispose();
      }
    }
    if (!result) return 0;
    const handle = result as QuickJSHandle;
    try {
      return ffi.QTS_DupValuePointer(ctxPtr, handle.value as unknown as Pointer);
    } finally {
      handle.dispose();
    }
  };
  return true;
}
