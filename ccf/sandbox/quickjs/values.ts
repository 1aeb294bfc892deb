/**
 * Moving values between the host and a QuickJS context, and the one engine detail JavaScript
 * cannot observe: whether a number is stored as an integer.
 */
import type { QuickJSContext, QuickJSHandle, QuickJSWASMModule } from "quickjs-emscripten";

/** A value the host can hand to app code: JSON-like data, with bytes becoming ArrayBuffers. */
export type HostValue =
  | null
  | undefined
  | boolean
  | number
  | string
  | Uint8Array
  | readonly HostValue[]
  | { readonly [key: string]: HostValue };

/** Creates `value` in `ctx`; the caller owns the returned handle. */
export function toVm(ctx: QuickJSContext, value: HostValue): QuickJSHandle {
  if (value === undefined) return ctx.undefined;
  if (value === null) return ctx.null;
  if (value === true) return ctx.true;
  if (value === false) return ctx.false;
  if (typeof value === "number") return ctx.newNumber(value);
  if (typeof value === "string") return ctx.newString(value);
  if (value instanceof Uint8Array) return ctx.newArrayBuffer(value.slice().buffer);
  if (Array.isArray(value)) {
    const array = ctx.newArray();
    value.forEach((item, i) => {
      const h = toVm(ctx, item);
      ctx.setProp(array, i, h);
      h.dispose();
    });
    return array;
  }
  const object = ctx.newObject();
  for (const [k, v] of Object.entries(value as Record<string, HostValue>)) {
    const h = toVm(ctx, v);
    ctx.setProp(object, k, h);
    h.dispose();
  }
  return object;
}

/** Copies the bytes of an ArrayBuffer handle (the prelude has checked its class). */
export function bytesOf(ctx: QuickJSContext, handle: QuickJSHandle): Uint8Array {
  const view = ctx.getArrayBuffer(handle);
  try {
    return view.value.slice();
  } finally {
    view.dispose();
  }
}

/** An ArrayBuffer handle holding a copy of `bytes`. */
export const newBuffer = (ctx: QuickJSContext, bytes: Uint8Array): QuickJSHandle =>
  ctx.newArrayBuffer(bytes.slice().buffer);

/**
 * `"<name>: <message>"` of an exception handle, and its stack when it has a non-empty one (else
 * the dumped value); frees the handle.
 */
export function errorText(
  ctx: QuickJSContext,
  error: QuickJSHandle,
): { reason: string; trace?: string } {
  try {
    const dumped = ctx.dump(error) as unknown;
    if (dumped && typeof dumped === "object" && "message" in dumped) {
      const e = dumped as { name?: unknown; message?: unknown; stack?: unknown };
      return {
        reason: `${String(e.name ?? "Error")}: ${String(e.message)}`,
        trace: typeof e.stack === "string" && e.stack !== "" ? e.stack : undefined,
      };
    }
    return { reason: typeof dumped === "string" ? dumped : JSON.stringify(dumped) };
  } catch {
    return { reason: "exception" };
  } finally {
    error.dispose();
  }
}

/**
 * Imports module `name` (running its top-level code and its imports' on first import in `ctx`)
 * through a one-line entry module compiled as `entryName`, and returns its namespace object, or
 * why it did not load.
 */
export function importNamespace(
  ctx: QuickJSContext,
  name: string,
  entryName: string,
):
  | { readonly ok: true; readonly ns: QuickJSHandle }
  | { readonly ok: false; readonly reason: string; readonly trace?: string } {
  const entry = ctx.evalCode(
    `import * as ns from ${JSON.stringify(name)}; export { ns };`,
    entryName,
    { type: "module" },
  );
  if (entry.error) return { ok: false, ...errorText(ctx, entry.error) };
  const state = ctx.getPromiseState(entry.value);
  if (state.type !== "fulfilled" || !state.notAPromise) {
    if (state.type === "fulfilled") state.value.dispose();
    entry.value.dispose();
    if (state.type === "rejected") return { ok: false, ...errorText(ctx, state.error) };
    return { ok: false, reason: "evaluation did not complete" };
  }
  const ns = ctx.getProp(entry.value, "ns");
  entry.value.dispose();
  return { ok: true, ns };
}

/** Whether a module's value layout was verified (per WebAssembly instance; checked once). */
const layoutVerified = new WeakMap<QuickJSWASMModule, boolean>();

/**
 * A test of QuickJS's int tag, which CCF requires of `statusCode` (`JS_TAG_INT`): `200` and `2/1`
 * are int-tagged, `0.5 * 400` is a float 200. This build of QuickJS NaN-boxes values (wasm32), so
 * a handle points at 8 bytes whose high word is the tag, 0 for ints. The layout is checked once on
 * known values; if it does not hold, the test falls back to "an integer in int32 range".
 */
export function intTagTest(
  module: QuickJSWASMModule,
  ctx: QuickJSContext,
): (handle: QuickJSHandle) => boolean {
  const fallback = (h: QuickJSHandle) => {
    if (ctx.typeof(h) !== "number") return false;
    const n = ctx.getNumber(h);
    return Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff && !Object.is(n, -0);
  };
  let memory: WebAssembly.Memory;
  try {
    memory = module.getWasmMemory();
  } catch {
    return fallback;
  }
  const tagWord = (h: QuickJSHandle) =>
    new DataView(memory.buffer).getUint32((h.value as unknown as number) + 4, true);
  const sample = (code: string) => {
    const h = ctx.unwrapResult(ctx.evalCode(code));
    try {
      return tagWord(h);
    } finally {
      h.dispose();
    }
  };
  let verified = layoutVerified.get(module);
  if (verified === undefined) {
    verified = sample("200") === 0 && sample("0.5 * 400") !== 0 && sample("1.5") !== 0;
    layoutVerified.set(module, verified);
  }
  return verified ? (h) => ctx.typeof(h) === "number" && tagWord(h) === 0 : fallback;
}
