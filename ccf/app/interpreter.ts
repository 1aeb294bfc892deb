/**
 * The CCF shell: the only code that touches the `ccf` global. It runs the core's programs, each
 * effect against CCF's KV, crypto and historical queries, and turns their answers into responses.
 */
import { ccf } from "@microsoft/ccf-app/global.js";
import type * as ccfapp from "@microsoft/ccf-app/endpoints.js";
import * as E from "fp-ts/lib/Either.js";
import { answer, type AppRequest, type Endpoint } from "../../core/api/request.ts";
import type { Effect, Program, ReceiptLookup } from "../../core/effects.ts";
import { internal, type KmsError } from "../../core/errors.ts";

const kvKey = (key: string): ArrayBuffer => ccf.strToBuf(key);

/** Seconds a receipt stays cached by the historical query system. */
const receiptCacheSeconds = 1800;

// The handle is the transaction's own seqno, so two different transactions never share one
// (shared handles restart each other's fetches and never finish).
const receipt = (map: string, key: string): ReceiptLookup => {
  const seqno = ccf.kv[map].getVersionOfPreviousWrite(kvKey(key));
  if (seqno === undefined) return { _tag: "Unwritten" };
  const states = ccf.historical.getStateRange(seqno, seqno, seqno, receiptCacheSeconds);
  return states === null
    ? { _tag: "Pending" }
    : { _tag: "Signed", receipt: JSON.stringify(states[0].receipt) };
};

const perform = (effect: Effect): unknown => {
  switch (effect._tag) {
    case "Get": {
      const value = ccf.kv[effect.map].get(kvKey(effect.key));
      return value === undefined ? undefined : ccf.bufToJsonCompatible(value);
    }
    case "Put":
      return void ccf.kv[effect.map].set(
        kvKey(effect.key),
        ccf.jsonCompatibleToBuf(effect.value as never),
      );
    case "Delete":
      return void ccf.kv[effect.map].delete(kvKey(effect.key));
    case "SetClaimsDigest":
      return ccf.rpc.setClaimsDigest(effect.digest.slice().buffer);
    case "Receipts":
      return effect.keys.map((key) => receipt(effect.map, key));
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

// A throw from the platform (KV, crypto) is a fault of the service. Its message is not passed on:
// it is the platform's, not ours, and nothing guarantees it carries no key material.
const run = (program: Program<unknown>): E.Either<KmsError, unknown> => {
  try {
    let p = program;
    while (p._tag === "Step") p = p.next(perform(p.effect));
    return p.result;
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
