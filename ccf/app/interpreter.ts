/**
 * The CCF shell: the only code that touches the `ccf` global. It runs the core's programs, each
 * effect against CCF's KV, crypto and historical queries, and turns their answers into responses.
 */
import { ccf } from "@microsoft/ccf-app/global.js";
import type * as ccfapp from "@microsoft/ccf-app/endpoints.js";
import * as E from "fp-ts/lib/Either.js";
import { answer, type AppRequest, type Endpoint } from "../../core/api/request.ts";
import {
  type Effect,
  type KeptMemo,
  type Program,
  type ReceiptLookup,
  runMemo,
} from "../../core/effects.ts";
import { internal, type KmsError } from "../../core/errors.ts";

/** Seconds a receipt stays cached by the historical query system. */
const receiptCacheSeconds = 1800;

/** Entries each memo holds at most; a full one starts again (the working set is far smaller). */
const memoLimit = 1024;

const remember = <K, V>(memo: Map<K, V>, key: K, value: V): V => {
  if (memo.size >= memoLimit) memo.clear();
  memo.set(key, value);
  return value;
};

// Module state lives as long as the interpreter CCF reuses (`interpreter_reuse`), one per node and
// per interpreter kind, and starts empty after a restart. The memos hold only what can never
// change under its key, so a fresh or a warm interpreter answers alike.

// KV keys as buffers: each conversion is a call into the host, and the same few keys (the key
// ring, the policies) are read on every request. The KV copies what it is given.
const keyBuffers = new Map<string, ArrayBuffer>();
const kvKey = (key: string): ArrayBuffer =>
  keyBuffers.get(key) ?? remember(keyBuffers, key, ccf.strToBuf(key));

// Receipts by the seqno of the transaction they prove: a historical query only serves committed
// transactions, whose receipts never change.
const receipts = new Map<number, string>();

// Decoded public values by map, key and the seqno of their last write; private values (key
// material) are never kept.
const decoded = new Map<string, { readonly version: number; readonly value: unknown }>();

// The handle is the transaction's own seqno, so two different transactions never share one
// (shared handles restart each other's fetches and never finish).
const receipt = (map: string, key: string): ReceiptLookup => {
  const seqno = ccf.kv[map].getVersionOfPreviousWrite(kvKey(key));
  if (seqno === undefined) return { _tag: "Unwritten" };
  const known = receipts.get(seqno);
  if (known !== undefined) return { _tag: "Signed", receipt: known };
  const states = ccf.historical.getStateRange(seqno, seqno, seqno, receiptCacheSeconds);
  return states === null
    ? { _tag: "Pending" }
    : { _tag: "Signed", receipt: remember(receipts, seqno, JSON.stringify(states[0].receipt)) };
};

const read = (map: string, key: string, decode: (stored: unknown) => unknown): unknown => {
  const value = ccf.kv[map].get(kvKey(key));
  return decode(value === undefined ? undefined : ccf.bufToJsonCompatible(value));
};

// Results of memoized programs by the key the core gave them (see `memo` in core/effects.ts).
const memos = new Map<string, KeptMemo>();

// What the current request wrote, whose versions are not final. A request runs to its end before
// the next begins, so one binding serves them all (a closure per request costs QuickJS about 1 µs).
// Most requests write nothing: the set is made on the first write.
let written: Set<string> | undefined;

/** Carries out one effect of the current request. */
const perform = (effect: Effect): unknown => {
  switch (effect._tag) {
    case "Get": {
      const at = `${effect.map}\u0000${effect.key}`;
      if (!effect.map.startsWith("public:") || written?.has(at)) {
        return read(effect.map, effect.key, effect.decode);
      }
      const version = ccf.kv[effect.map].getVersionOfPreviousWrite(kvKey(effect.key));
      const known = decoded.get(at);
      if (version !== undefined && known?.version === version) return known.value;
      const value = read(effect.map, effect.key, effect.decode);
      if (version !== undefined) remember(decoded, at, { version, value });
      return value;
    }
    case "Entries": {
      const entries: [string, unknown][] = [];
      ccf.kv[effect.map].forEach((value, key) =>
        entries.push([ccf.bufToStr(key), ccf.bufToJsonCompatible(value)])
      );
      return entries;
    }
    case "Put":
      (written ??= new Set()).add(`${effect.map}\u0000${effect.key}`);
      return void ccf.kv[effect.map].set(
        kvKey(effect.key),
        ccf.jsonCompatibleToBuf(effect.value as never),
      );
    case "Delete":
      (written ??= new Set()).add(`${effect.map}\u0000${effect.key}`);
      return void ccf.kv[effect.map].delete(kvKey(effect.key));
    case "SetClaimsDigest":
      return ccf.rpc.setClaimsDigest(effect.digest.slice().buffer);
    case "TransactionOf": {
      const seqno = ccf.kv[effect.map].getVersionOfPreviousWrite(kvKey(effect.key));
      const view = seqno === undefined ? null : ccf.consensus.getViewForSeqno(seqno);
      return view === null ? undefined : `${view}.${seqno}`;
    }
    case "Receipts":
      return effect.keys.map((key) => receipt(effect.map, key));
    case "Memo": {
      const { entry } = effect;
      const name = `${entry.map}\u0000${entry.key}`;
      const { result, keep } = runMemo(
        effect,
        ccf.kv[entry.map].getVersionOfPreviousWrite(kvKey(entry.key)),
        memos.get(effect.key),
        () => written?.has(name) === true,
        steps,
      );
      if (keep) remember(memos, effect.key, keep);
      return result;
    }
    case "Sha256":
      return effect.texts.map((text) =>
        new Uint8Array(ccf.crypto.digest("SHA-256", ccf.strToBuf(text)))
      );
    case "GenerateP384":
      return ccf.crypto.pemToJwk(ccf.crypto.generateEcdsaKeyPair("secp384r1").privateKey);
    case "WrapRsaOaep": {
      const { n, e } = effect.wrappingKey;
      return new Uint8Array(ccf.crypto.wrapKey(
        effect.plaintext.slice().buffer,
        ccf.strToBuf(ccf.crypto.pubRsaJwkToPem({ kty: "RSA", n, e })),
        { name: "RSA-OAEP" },
      ));
    }
  }
};

const steps = <A>(program: Program<A>) => {
  let p = program;
  while (p._tag === "Step") p = p.next(perform(p.effect));
  return p.result;
};

// A throw from the platform (KV, crypto) is a fault of the service. Its message is not passed on:
// it is the platform's, not ours, and nothing guarantees it carries no key material.
const run = (program: Program<unknown>): E.Either<KmsError, unknown> => {
  try {
    // A program that needs no effect (a heartbeat, a refused request) costs no interpreter.
    if (program._tag === "Done") return program.result;
    written = undefined;
    return steps(program);
  } catch {
    return E.left(internal("the service failed while handling the request"));
  }
};

// The host's untrusted clock, the only one CCF offers.
const nowSeconds = (): number => {
  ccf.enableUntrustedDateTime(true);
  return Math.floor(Date.now() / 1000);
};

// The clock and the body are read on first use, once: most endpoints need neither, and each is a
// call into the host.
const appRequest = (request: ccfapp.Request): AppRequest => {
  let now: number | undefined;
  let bodyBytes: number | undefined;
  return {
    query: request.query,
    headers: request.headers,
    caller: request.caller,
    get bodyBytes() {
      return bodyBytes ??= request.body.arrayBuffer().byteLength;
    },
    get now() {
      return now ??= nowSeconds();
    },
  };
};

/**
 * A CCF handler for `endpoint`: runs its program and answers; the request is logged once, with no
 * secret. Writes only commit on 2xx, so a refusal never leaves a partial change behind.
 */
export const handler =
  (name: string, endpoint: Endpoint) => (request: ccfapp.Request): ccfapp.Response => {
    const req = appRequest(request);
    const { response, log } = answer(name, req, run(endpoint(req)));
    console.log(JSON.stringify(log));
    return response as ccfapp.Response;
  };
