/**
 * The host object `H` that the prelude builds `ccf`, `console` and `Math.random` on.
 *
 * Its functions receive arguments the prelude has already counted and type-checked, so they only
 * convert, call the host (KV transaction, host crypto, request hooks) and convert back. Failures
 * become JavaScript errors of the class CCF throws, created from the constructors captured before
 * any app code ran. Request-bound functions act on the interpreter's current {@link RequestScope}
 * (looked up on every call, because module-level code of a reused interpreter keeps references to
 * `ccf.kv`, `ccf.rpc`, ... across requests).
 */
import type { QuickJSContext, QuickJSHandle } from "quickjs-emscripten";
import { DEFAULT_VIEW } from "../kv.ts";
import * as hc from "../hostCrypto.ts";
import type { Host } from "./host.d.ts";
import { installDirectHostCalls } from "./hostCalls.ts";
import { appMapPermission, executionContextName, ReservedMapError } from "./kvPermissions.ts";
import type { HistoricalKv, HistoricalState, LogEntry, RequestScope, TxStatus } from "./types.ts";
import { bytesOf, type HostValue, newBuffer, toVm } from "./values.ts";

type ErrorClass = "Error" | "TypeError" | "RangeError" | "InternalError";

/** An error to raise inside the VM as an instance of `errorClass`. */
class VmError extends Error {
  constructor(readonly errorClass: ErrorClass, message: string) {
    super(message);
  }
}

/** Environment of an interpreter that outlives requests. */
export interface HostEnvironment {
  readonly scope: () => RequestScope | undefined;
  readonly random: () => number;
  readonly log: (entry: LogEntry) => void;
}

/** The default source of `Math.random`: 53 random bits from the host CSPRNG. */
export const cryptoRandom = (): number => {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0] * 2 ** 21 + (words[1] >>> 11)) / 2 ** 53;
};

type HostFn = (...args: QuickJSHandle[]) => QuickJSHandle | undefined;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

const JWK_KINDS = {
  "ec-public": [hc.pubPemToJwk, hc.pubJwkToPem],
  "ec-private": [hc.pemToJwk, hc.jwkToPem],
  "rsa-public": [hc.pubRsaPemToJwk, hc.pubRsaJwkToPem],
  "rsa-private": [hc.rsaPemToJwk, hc.rsaJwkToPem],
  "eddsa-public": [hc.pubEddsaPemToJwk, hc.pubEddsaJwkToPem],
  "eddsa-private": [hc.eddsaPemToJwk, hc.eddsaJwkToPem],
} as const;

/** The KV of a historical state that came without one: every map empty. */
const EMPTY_KV: HistoricalKv = {
  get: () => undefined,
  has: () => false,
  size: () => 0,
  forEach: () => {},
  getVersionOfPreviousWrite: () => undefined,
};

/**
 * `state` as app code receives it: its KV is registered in the request's scope and named by its
 * `source` number there, which the prelude turns into a read-only `kv` object.
 */
export function hostState(scope: RequestScope, state: HistoricalState): HostValue {
  scope.historicalKvs.push(state.kv ?? EMPTY_KV);
  return {
    transactionId: state.transactionId,
    receipt: state.receipt,
    kv: scope.historicalKvs.length,
  };
}

/**
 * Builds `H` in `ctx`. Returns it with a disposer for the constructor handles it keeps; the
 * caller passes `H` to the prelude and disposes its own handle afterwards.
 */
export function createHostObject(
  ctx: QuickJSContext,
  env: HostEnvironment,
): { host: QuickJSHandle; dispose: () => void } {
  installDirectHostCalls(ctx);
  const ctors = new Map<ErrorClass, QuickJSHandle>(
    (["Error", "TypeError", "RangeError", "InternalError"] as const).map((
      name,
    ) => [name, ctx.getProp(ctx.global, name)]),
  );
  const vmError = (errorClass: ErrorClass, message: string): QuickJSHandle => {
    const m = ctx.newString(message);
    try {
      return ctx.unwrapResult(ctx.callFunction(ctors.get(errorClass)!, ctx.undefined, m));
    } finally {
      m.dispose();
    }
  };
  const toVmError = (e: unknown): QuickJSHandle => {
    if (e instanceof hc.HostCryptoError) return vmError(e.errorName, e.message);
    if (e instanceof VmError) return vmError(e.errorClass, e.message);
    return vmError("InternalError", e instanceof Error ? e.message : String(e));
  };

  const scope = (): RequestScope => {
    const s = env.scope();
    if (!s) throw new VmError("InternalError", "RPC context is not set");
    return s;
  };
  const str = (h: QuickJSHandle) => ctx.getString(h);
  const num = (h: QuickJSHandle) => ctx.getNumber(h);
  const buf = (h: QuickJSHandle) => bytesOf(ctx, h);
  const optBuf = (h: QuickJSHandle | undefined) =>
    h && ctx.typeof(h) === "object" ? buf(h) : undefined;
  const bool = (b: boolean) => (b ? ctx.true : ctx.false);
  const value = (v: HostValue) => toVm(ctx, v);
  const signing = (name: QuickJSHandle, hash: QuickJSHandle, salt: QuickJSHandle) => ({
    name: str(name),
    hash: str(hash),
    saltLength: num(salt),
  });
  const wrapping = (name: QuickJSHandle, label: QuickJSHandle, aesKeySize: QuickJSHandle) => ({
    name: str(name),
    label: optBuf(label),
    aesKeySize: num(aesKeySize),
  });

  // Keyed by the prelude's view of `H`, so that both sides name the same functions.
  const fns: Record<keyof Host, HostFn> = {
    log: (level, message) => {
      const entry = { level: str(level) as LogEntry["level"], message: str(message) };
      env.scope()?.logs.push(entry);
      env.log(entry);
      return undefined;
    },
    random: () => ctx.newNumber(env.random()),
    strToBuf: (s) => newBuffer(ctx, utf8Encoder.encode(str(s))),
    bufToStr: (b) => ctx.newString(utf8Decoder.decode(buf(b))),
    pemToId: (pem) => ctx.newString(hc.pemToId(str(pem))),

    sign: (name, hash, key, data, salt) =>
      newBuffer(ctx, hc.sign(signing(name, hash, salt), str(key), buf(data))),
    verify: (name, hash, key, signature, data, salt) =>
      bool(hc.verifySignature(signing(name, hash, salt), str(key), buf(signature), buf(data))),
    pemToJwk: (kind, pem, kid) => {
      const k = ctx.typeof(kid) === "string" ? str(kid) : undefined;
      const jwk = JWK_KINDS[str(kind) as keyof typeof JWK_KINDS][0](str(pem), k);
      return ctx.newString(JSON.stringify(jwk));
    },
    jwkToPem: (kind, json) => {
      let jwk: unknown;
      try {
        jwk = JSON.parse(str(json));
      } catch (e) {
        throw new VmError("InternalError", `Failed to convert jwk to pem ${(e as Error).message}`);
      }
      return ctx.newString(JWK_KINDS[str(kind) as keyof typeof JWK_KINDS][1](jwk));
    },
    generateAesKey: (bits) => newBuffer(ctx, hc.generateAesKey(num(bits))),
    generateRsaKeyPair: (bits, exponent) =>
      value({ ...hc.generateRsaKeyPair(num(bits), num(exponent)) }),
    generateEcdsaKeyPair: (curve) => value({ ...hc.generateEcdsaKeyPair(str(curve)) }),
    generateEddsaKeyPair: (curve) => value({ ...hc.generateEddsaKeyPair(str(curve)) }),
    wrapKey: (key, wrappingKey, name, label, aesKeySize) =>
      newBuffer(
        ctx,
        hc.wrapKey(buf(key), buf(wrappingKey), wrapping(name, label, aesKeySize)),
      ),
    unwrapKey: (key, unwrappingKey, name, label, aesKeySize) =>
      newBuffer(
        ctx,
        hc.unwrapKey(buf(key), buf(unwrappingKey), wrapping(name, label, aesKeySize)),
      ),
    digest: (data) => newBuffer(ctx, hc.digest("SHA-256", buf(data))),
    isValidX509CertBundle: (pem) => bool(hc.isValidX509CertBundle(str(pem))),
    isValidX509CertChain: (chain, trusted) =>
      bool(hc.isValidX509CertChain(str(chain), str(trusted))),

    kvAccess: (source, name) => {
      const s = scope();
      const readOnly = s.readOnly || num(source) !== 0;
      try {
        const permission = appMapPermission(str(name), readOnly);
        return value([permission, executionContextName(readOnly)]);
      } catch (e) {
        if (e instanceof ReservedMapError) s.fatal ??= e.message;
        throw e;
      }
    },
    kvHas: (source, name, key) => bool(kvOf(source).has(str(name), buf(key))),
    kvGet: (source, name, key) => {
      const v = kvOf(source).get(str(name), buf(key));
      return v === undefined ? ctx.undefined : newBuffer(ctx, v);
    },
    kvVersion: (source, name, key) => {
      const v = kvOf(source).getVersionOfPreviousWrite(str(name), buf(key));
      return v === undefined ? ctx.undefined : ctx.newNumber(v);
    },
    kvSize: (source, name) => ctx.newNumber(kvOf(source).size(str(name))),
    kvEntries: (source, name) => {
      const rows: Uint8Array[] = [];
      kvOf(source).forEach(str(name), (v, k) => rows.push(v, k));
      return value(rows);
    },
    kvSet: (name, key, v) => {
      scope().tx.set(str(name), buf(key), buf(v));
      return undefined;
    },
    kvDelete: (name, key) => {
      scope().tx.delete(str(name), buf(key));
      return undefined;
    },
    kvClear: (name) => {
      scope().tx.clear(str(name));
      return undefined;
    },

    setApplyWrites: (b) => {
      scope().applyWrites = ctx.dump(b) === true;
      return undefined;
    },
    setClaimsDigest: (digest) => {
      scope().claimsDigest = buf(digest);
      return undefined;
    },
    getStateRange: (handle, from, to, expiry) => {
      const s = scope();
      const [start, end] = [num(from), num(to)];
      if (end < start) {
        throw new VmError(
          "InternalError",
          `Failed to get state range: Invalid range for historical query: cannot request range ending (${end}) before it starts (${start})`,
        );
      }
      const hook = s.hooks.getStateRange;
      if (!hook) return ctx.null;
      let states;
      try {
        states = hook(num(handle), start, end, num(expiry));
      } catch (e) {
        throw new VmError("InternalError", `Failed to get state range: ${(e as Error).message}`);
      }
      if (states === null || states.length === 0) return ctx.null;
      return value(states.map((st) => hostState(s, st)));
    },
    dropCachedStates: (handle) => bool(scope().hooks.dropCachedStates?.(num(handle)) ?? false),
    getLastCommittedTxId: () => {
      const s = scope();
      const id = s.hooks.consensus?.getLastCommittedTxId() ??
        { view: DEFAULT_VIEW, seqno: s.tx.startSeqno };
      return value({ view: id.view, seqno: id.seqno });
    },
    getStatusForTxId: (view, seqno) => {
      const s = scope();
      const status: TxStatus = s.hooks.consensus?.getStatusForTxId(num(view), num(seqno)) ??
        (num(view) === DEFAULT_VIEW && num(seqno) <= s.tx.startSeqno ? "Committed" : "Unknown");
      return ctx.newString(status);
    },
    getViewForSeqno: (seqno) => {
      const s = scope();
      const v = s.hooks.consensus
        ? s.hooks.consensus.getViewForSeqno(num(seqno))
        : num(seqno) <= s.tx.startSeqno
        ? DEFAULT_VIEW
        : null;
      return v === null ? ctx.null : ctx.newNumber(v);
    },
    bodyText: () => ctx.newString(utf8Decoder.decode(scope().body)),
    bodyBuffer: () => newBuffer(ctx, scope().body),
  };

  const kvOf = (source: QuickJSHandle): HistoricalKv => {
    const s = scope();
    const n = num(source);
    return n === 0 ? s.tx : s.historicalKvs[n - 1] ?? EMPTY_KV;
  };

  const host = ctx.newObject();
  for (const [name, impl] of Object.entries(fns)) {
    const f = ctx.newFunction(name, (...args) => {
      try {
        return impl(...args);
      } catch (e) {
        throw toVmError(e);
      }
    });
    ctx.setProp(host, name, f);
    f.dispose();
  }
  return { host, dispose: () => ctors.forEach((h) => h.dispose()) };
}
