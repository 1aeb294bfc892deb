// @ts-check
/**
 * The JavaScript that turns a bare QuickJS context into CCF's app environment.
 *
 * It runs once per interpreter, before any bundle module, as a function of the host object `H`
 * (synchronous host primitives, see `hostBridge.ts`). It installs `ccf` (converters, `crypto`,
 * `kv`, `rpc`, `historical`, `consensus`, `pemToId`), a `console` with only `log`, `info`,
 * `warn` and `error`, `Math.random` from host entropy and a `Date` that reads 0 until
 * `ccf.enableUntrustedDateTime(true)`. It removes the built-ins that the QuickJS of CCF
 * (2024-01-13) lacks but this newer engine has, and returns the internals the host uses per
 * request (`makeRequest`, `readResponse`), which stay unreachable from app code.
 *
 * Argument checks and error messages follow CCF's C++ extensions. The functions close over
 * intrinsics captured here, so app code replacing `JSON`, `ArrayBuffer.prototype` getters or the
 * error constructors later does not change their behaviour, as with CCF's native functions. None
 * of them depends on `this`, because `@microsoft/ccf-app` re-exports them unbound.
 *
 * It is a file of its own, not a string in TypeScript, so that `deno lint` and `deno check` see it
 * (types in JSDoc, `host.d.ts`); the host imports it as text and evaluates it as a script whose
 * value is the function below.
 *
 * @import { Host, HostState, JwkKind, LogLevel, PreludeInternals, ResponseReading } from "./host.d.ts"
 */
/**
 * A value app code passed to a `ccf` function: anything, checked here as CCF's C++ checks it.
 * @typedef {any} AppValue
 */
/** @type {(H: Host) => PreludeInternals} */ (function (H) {
  "use strict";
  const g = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (globalThis));
  const O = Object;
  const defineProperty = O.defineProperty;
  const objectCreate = O.create;
  const apply = Reflect.apply;
  const keys = O.keys;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const TypeErr = TypeError;
  const RangeErr = RangeError;
  const isErrorObject = Error.isError;
  /**
   * @param {object} proto
   * @param {string} name
   */
  const getter = (proto, name) => /** @type {() => unknown} */ (
    /** @type {PropertyDescriptor} */ (O.getOwnPropertyDescriptor(proto, name)).get
  );
  const abByteLength = getter(ArrayBuffer.prototype, "byteLength");
  const abSlice = ArrayBuffer.prototype.slice;
  const isView = ArrayBuffer.isView;
  const TypedArrayProto = O.getPrototypeOf(Uint8Array.prototype);
  const taBuffer = getter(TypedArrayProto, "buffer");
  const taOffset = getter(TypedArrayProto, "byteOffset");
  const taLength = getter(TypedArrayProto, "byteLength");
  const mathTrunc = Math.trunc;
  const toNumber = Number;
  const KV_DOC = "https://microsoft.github.io/CCF/main/audit/read_write_restrictions.html";

  /**
   * @param {unknown} v
   * @returns {v is ArrayBuffer}
   */
  const isArrayBuffer = (v) => {
    // A failed brand check throws, and a QuickJS exception costs microseconds: primitives are
    // told apart without one.
    if (typeof v !== "object" || v === null) return false;
    try {
      apply(abByteLength, v, []);
      return true;
    } catch {
      return false;
    }
  };
  /**
   * A copy of the bytes `v` views, if it is a typed array.
   * @param {unknown} v
   * @returns {ArrayBuffer | undefined}
   */
  const typedArrayBytes = (v) => {
    // ArrayBuffer.isView checks the internal slot without throwing: only views reach the getters.
    if (!isView(v)) return undefined;
    try {
      const buffer = apply(taBuffer, v, []);
      const start = /** @type {number} */ (apply(taOffset, v, []));
      const length = /** @type {number} */ (apply(taLength, v, []));
      return apply(abSlice, buffer, [start, start + length]);
    } catch {
      return undefined;
    }
  };
  const concat = String.prototype.concat;
  /** @type {(v: unknown) => string} */
  const str = (v) => apply(concat, "", [v]);
  /** @type {(n: number, expected: number) => void} */
  const argc = (n, expected) => {
    if (n !== expected) throw new TypeErr("Passed " + n + " arguments, but expected " + expected);
  };
  /** @type {(n: number) => void} */
  const argc12 = (n) => {
    if (n !== 1 && n !== 2) throw new TypeErr("Passed " + n + " arguments, but expected 1 or 2");
  };
  /** @type {(v: unknown, message: string) => asserts v is ArrayBuffer} */
  const needBuffer = (v, message) => {
    if (!isArrayBuffer(v)) throw new TypeErr(message);
  };
  // JS_GetArrayBuffer's own message, which CCF's crypto functions let through.
  /** @type {(v: unknown) => asserts v is ArrayBuffer} */
  const needBufferArg = (v) => needBuffer(v, "ArrayBuffer object expected");
  /** @type {(v: unknown) => number} */
  const toInt64 = (v) => {
    const n = toNumber(v);
    return n !== n ? 0 : mathTrunc(n);
  };
  /** @type {(obj: object, name: string, value: unknown) => unknown} */
  const hide = (obj, name, value) =>
    defineProperty(obj, name, { value, writable: true, enumerable: false, configurable: true });

  // --- QuickJS 2024-01-13, as CCF 5/6 ships it ---
  // This engine is bellard/quickjs of 2025-12 (see engine.ts). What it has and 2024-01-13 lacks
  // is taken from QuickJS's Changelog (the releases 2025-04-26 and 2025-09-13 and the unreleased
  // entries up to this engine's commit) and checked against a build of 2024-01-13 by listing
  // every property reachable from the global object in both. Syntax (regular expression literals,
  // import attributes) is refused when a module loads (see syntaxCheck.ts).
  const IteratorPrototype = O.getPrototypeOf(O.getPrototypeOf([][Symbol.iterator]()));
  /** @type {[object, (string | symbol)[]][]} */
  const newerThanCcf = [
    // 2025-04-26: WeakRef, FinalizationRegistry; column numbers in debug information.
    [g, ["WeakRef", "FinalizationRegistry"]],
    [Function.prototype, ["columnNumber"]],
    // 2025-09-13: Float16Array, Promise.try, RegExp.escape and the v flag, Error.isError.
    [g, ["Float16Array"]],
    [Math, ["f16round"]],
    [DataView.prototype, ["getFloat16", "setFloat16"]],
    [Promise, ["try"]],
    [RegExp, ["escape"]],
    [RegExp.prototype, ["unicodeSets"]],
    [Error, ["isError"]],
    // Unreleased: resizable array buffers, ArrayBuffer.prototype.transfer, the Iterator object
    // and its methods, Set methods, Map and WeakMap upsert, Math.sumPrecise.
    [ArrayBuffer.prototype, [
      "resize",
      "resizable",
      "maxByteLength",
      "transfer",
      "transferToFixedLength",
      "detached",
    ]],
    [SharedArrayBuffer.prototype, ["grow", "growable", "maxByteLength"]],
    [g, ["Iterator"]],
    [IteratorPrototype, [
      "constructor",
      Symbol.toStringTag,
      "drop",
      "every",
      "filter",
      "find",
      "flatMap",
      "forEach",
      "map",
      "reduce",
      "some",
      "take",
      "toArray",
    ]],
    [Set.prototype, [
      "union",
      "intersection",
      "difference",
      "symmetricDifference",
      "isSubsetOf",
      "isSupersetOf",
      "isDisjointFrom",
    ]],
    [Map.prototype, ["getOrInsert", "getOrInsertComputed"]],
    [WeakMap.prototype, ["getOrInsert", "getOrInsertComputed"]],
    [Math, ["sumPrecise"]],
    // Not in the Changelog: 2024-01-13 leaves "at" out of Array.prototype[Symbol.unscopables].
    [/** @type {object} */ (Array.prototype[Symbol.unscopables]), ["at"]],
  ];
  for (const [owner, names] of newerThanCcf) {
    for (const name of names) delete /** @type {Record<string | symbol, unknown>} */ (owner)[name];
  }

  // 2025-04-26 also took symbols as weak keys; 2024-01-13 takes objects only.
  /** @type {(v: unknown) => boolean} */
  const isObject = (v) => (typeof v === "object" && v !== null) || typeof v === "function";
  const weakMapSet = WeakMap.prototype.set;
  const weakSetAdd = WeakSet.prototype.add;
  hide(
    WeakMap.prototype,
    "set",
    {
      /**
       * @this {WeakMap<object, unknown>}
       * @param {unknown} key
       * @param {unknown} value
       */
      set(key, value) {
        if (!isObject(key)) throw new TypeErr("not an object");
        return apply(weakMapSet, this, [key, value]);
      },
    }.set,
  );
  hide(
    WeakSet.prototype,
    "add",
    {
      /**
       * @this {WeakSet<object>}
       * @param {unknown} value
       */
      add(value) {
        if (!isObject(value)) throw new TypeErr("not an object");
        return apply(weakSetAdd, this, [value]);
      },
    }.add,
  );

  // new RegExp(): 2024-01-13 has no v flag (2025-09-13), no modifiers such as (?i:...)
  // (2025-09-13) and no group name used twice (unreleased); it refuses them with these messages.
  const RealRegExp = RegExp;
  const SyntaxErr = SyntaxError;
  const construct = Reflect.construct;
  const toString = String;
  /** @type {(source: string, flags: string) => string | undefined} */
  const newerRegExpSyntax = (source, flags) => {
    if (flags.includes("v")) return "invalid regular expression flags";
    /** @type {string[]} */
    const names = [];
    let inClass = false;
    for (let i = 0; i < source.length; i++) {
      const c = source[i];
      if (c === "\\") i++;
      else if (inClass) inClass = c !== "]";
      else if (c === "[") inClass = true;
      else if (c === "(" && source[i + 1] === "?") {
        const kind = source[i + 2];
        const lookbehind = kind === "<" && (source[i + 3] === "=" || source[i + 3] === "!");
        if (kind === "<" && !lookbehind) {
          const name = source.slice(i + 3, source.indexOf(">", i + 3));
          if (names.includes(name)) return "duplicate group name";
          names.push(name);
        } else if (kind !== ":" && kind !== "=" && kind !== "!" && !lookbehind) {
          return "invalid group";
        }
      }
    }
    return undefined;
  };
  /** @type {(v: unknown) => boolean} */
  const isRegExp = (v) => {
    if (!isObject(v)) return false;
    const matcher = /** @type {any} */ (v)[Symbol.match];
    return matcher !== undefined ? !!matcher : v instanceof RealRegExp;
  };
  /**
   * @param {unknown} pattern
   * @param {unknown} flags
   */
  const RegExpShim = function RegExp(pattern, flags) {
    const fromRegExp = isRegExp(pattern);
    if (new.target === undefined && fromRegExp && flags === undefined) {
      if (/** @type {any} */ (pattern).constructor === RegExpShim) return pattern;
    }
    const source = fromRegExp
      ? /** @type {RegExp} */ (pattern).source
      : pattern === undefined
      ? ""
      : toString(pattern);
    const f = flags !== undefined
      ? toString(flags)
      : fromRegExp
      ? /** @type {RegExp} */ (pattern).flags
      : "";
    const refused = newerRegExpSyntax(source, f);
    if (refused !== undefined) throw new SyntaxErr(refused);
    return construct(RealRegExp, [source, f], new.target ?? RegExpShim);
  };
  defineProperty(RegExpShim, "prototype", { value: RealRegExp.prototype });
  defineProperty(RegExpShim, Symbol.species, {
    get: O.getOwnPropertyDescriptor(RealRegExp, Symbol.species)?.get,
    configurable: true,
  });
  hide(RealRegExp.prototype, "constructor", RegExpShim);
  hide(g, "RegExp", RegExpShim);

  // --- Date: 0 until ccf.enableUntrustedDateTime(true) ---
  const RealDate = Date;
  const realNow = RealDate.now;
  let untrustedTime = false;
  const now = () => (untrustedTime ? realNow() : 0);
  /** @param {...AppValue} args */
  const DateShim = function Date(...args) {
    if (new.target === undefined) return new RealDate(now()).toString();
    return Reflect.construct(RealDate, args.length === 0 ? [now()] : args, new.target);
  };
  defineProperty(DateShim, "length", { value: 7, configurable: true });
  defineProperty(DateShim, "prototype", { value: RealDate.prototype });
  hide(RealDate.prototype, "constructor", DateShim);
  const dateNow = function now_() {
    return now();
  };
  defineProperty(dateNow, "name", { value: "now", configurable: true });
  hide(DateShim, "now", dateNow);
  hide(DateShim, "parse", RealDate.parse);
  hide(DateShim, "UTC", RealDate.UTC);
  hide(g, "Date", DateShim);

  // --- Math.random from host entropy ---
  hide(Math, "random", function random() {
    return H.random();
  });

  // --- console: only log/info (info), warn (fail), error (fatal) ---
  /** @type {(args: AppValue[]) => string} */
  const format = (args) => {
    let out = "";
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (i > 0) out += " ";
      const isObject = (typeof a === "object" && a !== null) || typeof a === "function";
      out += isObject && !isErrorObject(a) ? str(stringify(a)) : str(a);
    }
    return out;
  };
  /** @type {(name: string, level: LogLevel) => Function} */
  const consoleFn = (name, level) => {
    const f = {
      /** @param {...AppValue} args */
      [name](...args) {
        H.log(level, format(args));
      },
    }[name];
    defineProperty(f, "length", { value: 1, configurable: true });
    return f;
  };
  // CCF sets console and ccf as ordinary (enumerable) properties of the global object.
  g.console = {
    log: consoleFn("log", "info"),
    info: consoleFn("info", "info"),
    warn: consoleFn("warn", "fail"),
    error: consoleFn("error", "fatal"),
  };

  const ccf = {};

  // --- converters ---
  /** @param {AppValue} s */
  ccf.strToBuf = function strToBuf(s) {
    argc(arguments.length, 1);
    if (typeof s !== "string") throw new TypeErr("Argument must be a string");
    return H.strToBuf(s);
  };
  /** @param {AppValue} b */
  ccf.bufToStr = function bufToStr(b) {
    argc(arguments.length, 1);
    needBuffer(b, "Argument must be an ArrayBuffer");
    return H.bufToStr(b);
  };
  /** @param {AppValue} v */
  ccf.jsonCompatibleToBuf = function jsonCompatibleToBuf(v) {
    argc(arguments.length, 1);
    const s = stringify(v);
    if (typeof s !== "string") throw new TypeErr("Argument must be a string");
    return H.strToBuf(s);
  };
  /** @param {AppValue} b */
  ccf.bufToJsonCompatible = function bufToJsonCompatible(b) {
    argc(arguments.length, 1);
    needBuffer(b, "Argument must be an ArrayBuffer");
    return parse(H.bufToStr(b));
  };
  /** @param {AppValue} v */
  ccf.enableUntrustedDateTime = function enableUntrustedDateTime(v) {
    argc(arguments.length, 1);
    if (typeof v !== "boolean") throw new TypeErr("First argument must be a boolean");
    const previous = untrustedTime;
    untrustedTime = v;
    return previous;
  };
  let metricsLogging = false;
  /** @param {AppValue} v */
  ccf.enableMetricsLogging = function enableMetricsLogging(v) {
    argc(arguments.length, 1);
    if (typeof v !== "boolean") throw new TypeErr("First argument must be a boolean");
    const previous = metricsLogging;
    metricsLogging = v;
    return previous;
  };
  /** @param {AppValue} pem */
  ccf.pemToId = function pemToId(pem) {
    argc(arguments.length, 1);
    return H.pemToId(str(pem));
  };

  // --- crypto ---
  const crypto = {};
  /**
   * @param {AppValue} algorithm
   * @param {AppValue} key
   * @param {AppValue} data
   */
  crypto.sign = function sign(algorithm, key, data) {
    argc(arguments.length, 3);
    const name = algorithm.name;
    const hash = algorithm.hash;
    const nameStr = str(name);
    const keyStr = str(key);
    needBufferArg(data);
    if (nameStr === "EdDSA") return H.sign(nameStr, "", keyStr, data, 0);
    const hashStr = str(hash);
    const salt = nameStr === "RSA-PSS" ? toInt64(algorithm.saltLength) : 0;
    return H.sign(nameStr, hashStr, keyStr, data, salt);
  };
  /**
   * @param {AppValue} algorithm
   * @param {AppValue} key
   * @param {AppValue} signature
   * @param {AppValue} data
   */
  crypto.verifySignature = function verifySignature(algorithm, key, signature, data) {
    argc(arguments.length, 4);
    needBufferArg(signature);
    needBufferArg(data);
    const name = algorithm.name;
    const hash = algorithm.hash;
    const nameStr = str(name);
    const keyStr = str(key);
    if (nameStr === "EdDSA") return H.verify(nameStr, "", keyStr, signature, data, 0);
    const hashStr = str(hash);
    const salt = nameStr === "RSA-PSS" ? toInt64(algorithm.saltLength) : 0;
    return H.verify(nameStr, hashStr, keyStr, signature, data, salt);
  };
  /** @type {(fname: string, kind: JwkKind) => Function} */
  const pemToJwkFn = (fname, kind) => {
    const f = {
      /**
       * @param {AppValue} pem
       * @param {AppValue} kid
       */
      [fname](pem, kid) {
        argc12(arguments.length);
        const pemStr = str(pem);
        const kidStr = arguments.length === 2 ? str(kid) : undefined;
        return parse(H.pemToJwk(kind, pemStr, kidStr));
      },
    }[fname];
    defineProperty(f, "length", { value: 1, configurable: true });
    return f;
  };
  /** @type {(fname: string, kind: JwkKind) => Function} */
  const jwkToPemFn = (fname, kind) =>
    ({
      /** @param {AppValue} jwk */
      [fname](jwk) {
        argc(arguments.length, 1);
        return H.jwkToPem(kind, str(stringify(jwk)));
      },
    })[fname];
  crypto.pubPemToJwk = pemToJwkFn("pubPemToJwk", "ec-public");
  crypto.pemToJwk = pemToJwkFn("pemToJwk", "ec-private");
  crypto.pubRsaPemToJwk = pemToJwkFn("pubRsaPemToJwk", "rsa-public");
  crypto.rsaPemToJwk = pemToJwkFn("rsaPemToJwk", "rsa-private");
  crypto.pubEddsaPemToJwk = pemToJwkFn("pubEddsaPemToJwk", "eddsa-public");
  crypto.eddsaPemToJwk = pemToJwkFn("eddsaPemToJwk", "eddsa-private");
  crypto.pubJwkToPem = jwkToPemFn("pubJwkToPem", "ec-public");
  crypto.jwkToPem = jwkToPemFn("jwkToPem", "ec-private");
  crypto.pubRsaJwkToPem = jwkToPemFn("pubRsaJwkToPem", "rsa-public");
  crypto.rsaJwkToPem = jwkToPemFn("rsaJwkToPem", "rsa-private");
  crypto.pubEddsaJwkToPem = jwkToPemFn("pubEddsaJwkToPem", "eddsa-public");
  crypto.eddsaJwkToPem = jwkToPemFn("eddsaJwkToPem", "eddsa-private");
  /** @param {AppValue} size */
  crypto.generateAesKey = function generateAesKey(size) {
    argc(arguments.length, 1);
    return H.generateAesKey(size | 0);
  };
  /**
   * @param {AppValue} size
   * @param {AppValue} exponent
   */
  crypto.generateRsaKeyPair = function generateRsaKeyPair(size, exponent) {
    argc12(arguments.length);
    const bits = size >>> 0;
    return H.generateRsaKeyPair(bits, arguments.length === 2 ? exponent >>> 0 : 65537);
  };
  defineProperty(crypto.generateRsaKeyPair, "length", { value: 1, configurable: true });
  /** @param {AppValue} curve */
  crypto.generateEcdsaKeyPair = function generateEcdsaKeyPair(curve) {
    argc(arguments.length, 1);
    return H.generateEcdsaKeyPair(str(curve));
  };
  /** @param {AppValue} curve */
  crypto.generateEddsaKeyPair = function generateEddsaKeyPair(curve) {
    argc(arguments.length, 1);
    return H.generateEddsaKeyPair(str(curve));
  };
  /**
   * @param {AppValue} key
   * @param {AppValue} wrappingKey
   * @param {AppValue} parameters
   * @returns {[string, ArrayBuffer | undefined, number]}
   */
  const wrapArgs = (key, wrappingKey, parameters) => {
    needBufferArg(key);
    needBufferArg(wrappingKey);
    const name = str(parameters.name);
    let aesKeySize = 0;
    let label;
    if (name === "RSA-OAEP-AES-KWP") aesKeySize = parameters.aesKeySize | 0;
    if (name === "RSA-OAEP" || name === "RSA-OAEP-AES-KWP") {
      const l = parameters.label;
      label = isArrayBuffer(l) ? l : undefined;
    }
    return [name, label, aesKeySize];
  };
  /**
   * @param {AppValue} key
   * @param {AppValue} wrappingKey
   * @param {AppValue} parameters
   */
  crypto.wrapKey = function wrapKey(key, wrappingKey, parameters) {
    argc(arguments.length, 3);
    const [name, label, aesKeySize] = wrapArgs(key, wrappingKey, parameters);
    return H.wrapKey(key, wrappingKey, name, label, aesKeySize);
  };
  /**
   * @param {AppValue} key
   * @param {AppValue} unwrappingKey
   * @param {AppValue} parameters
   */
  crypto.unwrapKey = function unwrapKey(key, unwrappingKey, parameters) {
    argc(arguments.length, 3);
    const [name, label, aesKeySize] = wrapArgs(key, unwrappingKey, parameters);
    return H.unwrapKey(key, unwrappingKey, name, label, aesKeySize);
  };
  /**
   * @param {AppValue} algorithm
   * @param {AppValue} data
   */
  crypto.digest = function digest(algorithm, data) {
    argc(arguments.length, 2);
    if (str(algorithm) !== "SHA-256") {
      throw new RangeErr("unsupported digest algorithm, supported: SHA-256");
    }
    needBufferArg(data);
    return H.digest(data);
  };
  /** @param {AppValue} pem */
  crypto.isValidX509CertBundle = function isValidX509CertBundle(pem) {
    argc(arguments.length, 1);
    return H.isValidX509CertBundle(str(pem));
  };
  /**
   * @param {AppValue} chain
   * @param {AppValue} trusted
   */
  crypto.isValidX509CertChain = function isValidX509CertChain(chain, trusted) {
    argc(arguments.length, 2);
    return H.isValidX509CertChain(str(chain), str(trusted));
  };
  ccf.crypto = crypto;

  // --- kv: a handle per property access, resolved against the current request's transaction ---
  // `source` 0 is the request's transaction, n > 0 the n-th historical state of the request. As in
  // CCF, each access makes a new handle object. Its methods live on a prototype per map: a map's
  // access (permission, execution context) depends only on its name, on whether it is the
  // request's transaction, and on whether the interpreter serves read-only requests, which never
  // changes (read-write and read-only requests never share one), so the prototype of a map of the
  // request's transaction is made once per interpreter and an access costs one small object.
  /**
   * @param {number} source
   * @param {string} name
   */
  const mapPrototype = (source, name) => {
    const access = H.kvAccess(source, name);
    const permission = access[0];
    const where = access[1];
    const canRead = permission !== "none";
    const canWrite = permission === "rw";
    /** @type {(method: string) => never} */
    const deny = (method) => {
      const kind = permission === "ro" ? "read-only" : "inaccessible";
      throw new TypeErr(
        "Cannot call ." + method + "() on " + kind + " table named " + name +
          " in " + where + " execution context. See " + KV_DOC + " for more detail.",
      );
    };
    /** @type {(n: number, k: unknown) => asserts k is ArrayBuffer} */
    const oneKey = (n, k) => {
      argc(n, 1);
      needBuffer(k, "Argument must be an ArrayBuffer");
    };
    const proto = {};
    /** @param {AppValue} k */
    proto.has = function has(k) {
      if (!canRead) deny("has");
      oneKey(arguments.length, k);
      return H.kvHas(source, name, k);
    };
    /** @param {AppValue} k */
    proto.get = function get(k) {
      if (!canRead) deny("get");
      oneKey(arguments.length, k);
      return H.kvGet(source, name, k);
    };
    /** @param {AppValue} callback */
    proto.forEach = function forEach(callback) {
      if (!canRead) deny("forEach");
      argc(arguments.length, 1);
      if (typeof callback !== "function") throw new TypeErr("Argument must be a function");
      // A snapshot of [value, key, ...]: the callback may write to the map while iterating.
      const rows = H.kvEntries(source, name);
      for (let i = 0; i < rows.length; i += 2) callback(rows[i], rows[i + 1], this);
    };
    /** @param {AppValue} k */
    proto.getVersionOfPreviousWrite = function getVersionOfPreviousWrite(k) {
      if (!canRead) deny("getVersionOfPreviousWrite");
      oneKey(arguments.length, k);
      return H.kvVersion(source, name, k);
    };
    /**
     * @param {AppValue} k
     * @param {AppValue} v
     */
    proto.set = function set(k, v) {
      if (!canWrite) deny("set");
      argc(arguments.length, 2);
      if (!isArrayBuffer(k) || !isArrayBuffer(v)) {
        throw new TypeErr("Arguments must be ArrayBuffers");
      }
      H.kvSet(name, k, v);
      return this;
    };
    proto.delete = {
      /** @param {AppValue} k */
      delete(k) {
        if (!canWrite) deny("delete");
        oneKey(arguments.length, k);
        H.kvDelete(name, k);
      },
    }.delete;
    proto.clear = function clear() {
      if (!canWrite) deny("clear");
      argc(arguments.length, 0);
      H.kvClear(name);
    };
    defineProperty(proto, "size", {
      get: function size() {
        if (!canRead) deny("size");
        return H.kvSize(source, name);
      },
      enumerable: true,
      configurable: true,
    });
    return proto;
  };
  // A dictionary without a prototype, and Object.create captured: app code that replaces
  // Map.prototype.get or Object.create later must not break ccf.kv.
  /** @type {Record<string, object | undefined>} */
  const transactionMaps = objectCreate(null);
  /**
   * @param {number} source
   * @param {string} name
   */
  const makeHandle = (source, name) => {
    let proto = source === 0 ? transactionMaps[name] : undefined;
    if (proto === undefined) {
      proto = mapPrototype(source, name);
      if (source === 0) transactionMaps[name] = proto;
    }
    const handle = objectCreate(proto);
    handle._map_name = name;
    return handle;
  };
  /** @param {number} source */
  const kvObject = (source) =>
    new Proxy({}, {
      get: (_target, property) =>
        typeof property === "string" ? makeHandle(source, property) : undefined,
      has: (_target, property) => typeof property === "string",
    });
  ccf.kv = kvObject(0);
  /** @param {HostState} s */
  const historicalState = (s) => ({
    transactionId: s.transactionId,
    receipt: s.receipt,
    kv: kvObject(s.kv),
  });

  // --- rpc ---
  // CCF's rpc functions word their count check without the comma.
  /** @type {(n: number) => void} */
  const rpcArgc = (n) => {
    if (n !== 1) throw new TypeErr("Passed " + n + " arguments but expected 1");
  };
  ccf.rpc = {
    /** @param {AppValue} v */
    setApplyWrites: function setApplyWrites(v) {
      rpcArgc(arguments.length);
      H.setApplyWrites(!!v);
    },
    /** @param {AppValue} digest */
    setClaimsDigest: function setClaimsDigest(digest) {
      rpcArgc(arguments.length);
      needBuffer(digest, "Argument must be an ArrayBuffer");
      if (apply(abByteLength, digest, []) !== 32) {
        throw new TypeErr("Argument must be an ArrayBuffer of the right size: 32");
      }
      H.setClaimsDigest(digest);
    },
  };

  // --- historical ---
  ccf.historical = {
    /**
     * @param {AppValue} handle
     * @param {AppValue} startSeqno
     * @param {AppValue} endSeqno
     * @param {AppValue} secondsUntilExpiry
     */
    getStateRange: function getStateRange(handle, startSeqno, endSeqno, secondsUntilExpiry) {
      argc(arguments.length, 4);
      const h = toInt64(handle);
      const from = toInt64(startSeqno);
      const to = toInt64(endSeqno);
      const expiry = toInt64(secondsUntilExpiry);
      if (h < 0 || from < 0 || to < 0 || expiry < 0) {
        throw new RangeErr("Invalid handle or seqno or expiry: cannot be negative");
      }
      const states = H.getStateRange(h, from, to, expiry);
      if (states === null) return null;
      // A loop, not Array.prototype.map, which app code may have replaced.
      /** @type {unknown[]} */
      const out = [];
      for (let i = 0; i < states.length; i++) out[i] = historicalState(states[i]);
      return out;
    },
    /** @param {AppValue} handle */
    dropCachedStates: function dropCachedStates(handle) {
      argc(arguments.length, 1);
      const h = toInt64(handle);
      if (h < 0) throw new RangeErr("Invalid handle: cannot be negative");
      return H.dropCachedStates(h);
    },
  };

  // --- consensus ---
  ccf.consensus = {
    getLastCommittedTxId: function getLastCommittedTxId() {
      argc(arguments.length, 0);
      return H.getLastCommittedTxId();
    },
    /**
     * @param {AppValue} view
     * @param {AppValue} seqno
     */
    getStatusForTxId: function getStatusForTxId(view, seqno) {
      argc(arguments.length, 2);
      return H.getStatusForTxId(toInt64(view), toInt64(seqno));
    },
    /** @param {AppValue} seqno */
    getViewForSeqno: function getViewForSeqno(seqno) {
      argc(arguments.length, 1);
      return H.getViewForSeqno(toInt64(seqno));
    },
  };

  g.ccf = ccf;

  // --- per-request internals, returned to the host only ---
  /** @type {(n: number) => void} */
  const noArgs = (n) => {
    if (n !== 0) throw new TypeErr("Passed " + n + " arguments, but expected none");
  };
  /** @type {PreludeInternals["makeRequest"]} */
  const makeRequest = (meta, caller) => {
    const m = parse(meta);
    const body = {};
    body.text = function text() {
      noArgs(arguments.length);
      return H.bodyText();
    };
    body.json = function json() {
      noArgs(arguments.length);
      return parse(H.bodyText());
    };
    body.arrayBuffer = function arrayBuffer() {
      noArgs(arguments.length);
      return H.bodyBuffer();
    };
    return {
      headers: m.headers,
      query: m.query,
      path: m.path,
      method: m.method,
      hostname: m.hostname,
      route: m.route,
      url: m.url,
      params: m.params,
      body,
      caller,
    };
  };

  const PREFIX = "Invalid endpoint function return value ";
  /** @type {(what: string, e: AppValue) => ResponseReading} */
  const failed = (
    what,
    e,
  ) => [1, PREFIX + what, str(e), e && typeof e === "object" ? e.stack : undefined];

  // Mirrors CCF's reading of the handler's return value: body, then headers, then status code.
  /** @param {AppValue} value */
  const readResponse = (value) => {
    if (!((typeof value === "object" && value !== null) || typeof value === "function")) return [0];
    let body;
    try {
      body = value.body;
    } catch (e) {
      return failed("(error reading body).", e);
    }
    let payload;
    let contentType;
    if (body !== undefined) {
      if (isArrayBuffer(body)) {
        payload = apply(abSlice, body, []);
        contentType = "application/octet-stream";
      } else if ((payload = typedArrayBytes(body)) !== undefined) {
        contentType = "application/octet-stream";
      } else if (typeof body === "string") {
        payload = body;
        contentType = "text/plain";
      } else {
        contentType = "application/json";
        let json;
        try {
          json = stringify(body);
        } catch (e) {
          return failed("(error during JSON conversion of body).", e);
        }
        try {
          payload = str(json);
        } catch (e) {
          return failed("(error during string conversion of body).", e);
        }
      }
    }
    let headers;
    try {
      headers = value.headers;
    } catch (e) {
      return failed("(error reading headers).", e);
    }
    const flat = [];
    if ((typeof headers === "object" && headers !== null) || typeof headers === "function") {
      let names;
      try {
        names = keys(headers);
      } catch (e) {
        return failed("(error reading header names).", e);
      }
      for (const name of names) {
        let v;
        try {
          v = headers[name];
        } catch (e) {
          return failed("(error reading header value).", e);
        }
        try {
          flat.push(name, str(v));
        } catch (e) {
          return failed("(header value type).", e);
        }
      }
    }
    let statusCode;
    try {
      statusCode = value.statusCode;
    } catch (e) {
      return failed("(error reading status code).", e);
    }
    return [2, payload, contentType, flat, statusCode === null ? undefined : statusCode];
  };

  /** @type {PreludeInternals["setHistoricalState"]} */
  const setHistoricalState = (s) => {
    // Only historical endpoints see the property at all, as on CCF.
    const target = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (ccf));
    if (s === undefined) delete target.historicalState;
    else target.historicalState = historicalState(s);
  };

  return { makeRequest, readResponse, setHistoricalState };
});
