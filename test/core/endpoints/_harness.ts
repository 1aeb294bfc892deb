/**
 * An in-memory interpreter of the core's programs that keeps CCF's rules: a request's writes
 * commit as one transaction only if it succeeds, every transaction gets the next seqno, and a
 * write's receipt exists once a signature covers its seqno (`sign()`), bound to the claims digest
 * its transaction set.
 */
import {
  constants,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
} from "node:crypto";
import { p384 } from "@noble/curves/nist.js";
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { base64urlnopad } from "@scure/base";
import * as E from "fp-ts/lib/Either.js";
import { toHex, utf8 } from "../../../core/bytes.ts";
import type { AppRequest, Endpoint } from "../../../core/api/request.ts";
import { type Effect, type KeptMemo, type Program, runMemo } from "../../../core/effects.ts";
import type { KmsError } from "../../../core/errors.ts";

/** The TPM key pair the harness's tokens carry. */
export const tpm = generateKeyPairSync("rsa", { modulusLength: 2048 });

/** Decrypts what the harness wrapped to {@link tpm}. */
export const unwrapWithTpm = (wrapped: Uint8Array): Uint8Array =>
  new Uint8Array(privateDecrypt(
    { key: tpm.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    wrapped,
  ));

const b64url = (bytes: Uint8Array) => base64urlnopad.encode(bytes);

// Deterministic key pairs: the n-th generated key's scalar is SHA-384 of n.
const p384Jwk = (n: number) => {
  const d = sha384(utf8(String(n)));
  const point = p384.getPublicKey(d, false);
  return {
    kty: "EC",
    crv: "P-384",
    d: b64url(d),
    x: b64url(point.slice(1, 49)),
    y: b64url(point.slice(49)),
  };
};

interface Write {
  readonly seqno: number;
  readonly value: unknown;
}

/** What a finished request did. */
export interface Outcome {
  readonly result: E.Either<KmsError, unknown>;
  /** The effects it asked for, in order. */
  readonly effects: readonly Effect[];
  /** The seqno its writes committed at, if it wrote anything and succeeded. */
  readonly seqno?: number;
}

/** A KMS state in memory and the requests run against it. */
export const memoryKms = () => {
  const kv = new Map<string, Write | undefined>();
  const claimsDigests = new Map<number, string>();
  let seqno = 0;
  let signedUpTo = 0;
  let generated = 0;
  const at = (map: string, key: string) => `${map}\u0000${key}`;

  // Kept like the CCF shell keeps them, so that the property tests see if a memo shows.
  const memos = new Map<string, KeptMemo>();
  const run = (program: Program<unknown>): Outcome => {
    const pending = new Map<string, { value: unknown } | undefined>();
    const effects: Effect[] = [];
    let digest: string | undefined;
    const perform = (effect: Effect): unknown => {
      effects.push(effect);
      switch (effect._tag) {
        case "Get": {
          const k = at(effect.map, effect.key);
          const value = pending.has(k) ? pending.get(k) : kv.get(k);
          return effect.decode(value === undefined ? undefined : structuredClone(value.value));
        }
        case "Entries":
          return [...kv].filter(([k, v]) => v !== undefined && k.startsWith(`${effect.map}\u0000`))
            .map(([k, v]) => [k.slice(effect.map.length + 1), structuredClone(v!.value)]);
        case "Put":
          return void pending.set(at(effect.map, effect.key), {
            value: structuredClone(effect.value),
          });
        case "Delete":
          return void pending.set(at(effect.map, effect.key), undefined);
        case "SetClaimsDigest":
          return void (digest = toHex(effect.digest));
        case "TransactionOf": {
          const write = kv.get(at(effect.map, effect.key));
          return write === undefined ? undefined : `2.${write.seqno}`;
        }
        case "Receipts":
          return effect.keys.map((key) => {
            const write = kv.get(at(effect.map, key));
            if (write === undefined) return { _tag: "Unwritten" };
            return write.seqno <= signedUpTo
              ? {
                _tag: "Signed",
                receipt: JSON.stringify({
                  seqno: write.seqno,
                  claimsDigest: claimsDigests.get(write.seqno),
                }),
              }
              : { _tag: "Pending" };
          });
        case "Memo": {
          const name = at(effect.entry.map, effect.entry.key);
          const { result, keep } = runMemo(
            effect,
            kv.get(name)?.seqno,
            memos.get(effect.key),
            () => pending.has(name),
            steps,
          );
          if (keep) memos.set(effect.key, keep);
          return result;
        }
        case "Sha256":
          return effect.texts.map((text) => sha256(utf8(text)));
        case "GenerateP384":
          return p384Jwk(generated++);
        case "WrapRsaOaep":
          return new Uint8Array(publicEncrypt(
            {
              key: createPublicKey({ format: "jwk", key: { ...effect.wrappingKey } }),
              padding: constants.RSA_PKCS1_OAEP_PADDING,
              oaepHash: "sha256",
            },
            effect.plaintext,
          ));
      }
    };
    const steps = <A>(program: Program<A>) => {
      let p = program;
      while (p._tag === "Step") p = p.next(perform(p.effect));
      return p.result;
    };
    const result = steps(program);
    if (E.isLeft(result) || (pending.size === 0 && digest === undefined)) {
      return { result, effects };
    }
    seqno++;
    for (const [k, v] of pending) kv.set(k, v && { seqno, value: v.value });
    if (digest !== undefined) claimsDigests.set(seqno, digest);
    return { result, effects, seqno };
  };

  return {
    /** Runs `endpoint` for a request at time `now`. */
    call: (endpoint: Endpoint, request: Partial<AppRequest> & { now: number }): Outcome =>
      run(endpoint({ query: "", headers: {}, caller: null, bodyBytes: 0, ...request })),
    /** Writes a governance value directly, as a constitution action would. */
    govWrite: (map: string, key: string, value: unknown) => {
      kv.set(at(map, key), { seqno: ++seqno, value });
    },
    /** The committed value at `key` of `map`. */
    read: (map: string, key: string): unknown => kv.get(at(map, key))?.value,
    /** The keys of `map` that hold a value. */
    keysOf: (map: string): string[] =>
      [...kv].filter(([k, v]) => v !== undefined && k.startsWith(`${map}\u0000`)).map(([k]) =>
        k.slice(map.length + 1)
      ),
    /** A signature now covers every committed transaction. */
    sign: () => {
      signedUpTo = seqno;
    },
  };
};
