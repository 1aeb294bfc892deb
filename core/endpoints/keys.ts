/**
 * The key endpoints' decisions: `/refresh`, `/listpubkeys`, `/pubkey` and `/key`. Each returns the
 * program of effects that carries it out.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { isMember, jwtCaller } from "../api/caller.ts";
import { keyListing, listedKeys, newKey, releasePlaintext, toBase64 } from "../api/keys.ts";
import { flagParam, kidParam, parseQuery } from "../api/query.ts";
import { recordRelease } from "./history.ts";
import { requestIdOf } from "../api/requestId.ts";
import { explainRelease } from "../api/explain.ts";
import { decideRelease, type ReleaseDecision, type ReleaseRequest } from "../api/release.ts";
import { type AppRequest, jsonText } from "../api/request.ts";
import {
  loadKeys,
  readJwtPolicy,
  readReleasePolicy,
  readRotationPolicy,
  receiptLookups,
  receiptOf,
} from "../api/state.ts";
import {
  all,
  type Effect,
  flatMap,
  flatMapEither,
  fromEither,
  get,
  map,
  memo,
  of,
  perform,
  performAll,
  type Program,
} from "../effects.ts";
import { forbidden, invalidInput, type KmsError } from "../errors.ts";
import { keyToRelease, planRotation } from "../keys/planner.ts";
import { type KeyRecord, nextStateChange, type PublishedKey, withNewKey } from "../keys/record.ts";
import { keyRingTable, keysTable, privateKeysTable } from "../tables.ts";

/**
 * The writes that store a new key: its public record, its private part and the new key ring;
 * the private part of the key it replaces is deleted (that key expired, so nothing may release it
 * any more), and the transaction's receipt is bound to the key's KeyConfig.
 */
export const keyCreation = (
  record: KeyRecord,
  ring: readonly PublishedKey[],
  jwk: unknown,
): E.Either<KmsError, { readonly effects: Effect[]; readonly created: PublishedKey }> =>
  pipe(
    newKey(record, jwk),
    E.map(({ published, privateKey, claimsDigest }) => {
      const next = withNewKey(ring, published);
      const index = String(record.index);
      const effects: Effect[] = [
        { _tag: "Put", map: keysTable.map, key: index, value: published },
        { _tag: "Put", map: privateKeysTable.map, key: index, value: privateKey },
        { _tag: "Put", map: keyRingTable.map, key: keyRingTable.key, value: next.ring },
        ...(next.replaced
          ? [
            {
              _tag: "Delete",
              map: privateKeysTable.map,
              key: String(next.replaced.index),
            } as const,
          ]
          : []),
        { _tag: "SetClaimsDigest", digest: claimsDigest },
      ];
      return { effects, created: published };
    }),
  );

const createKey = (record: KeyRecord, ring: readonly PublishedKey[]): Program<unknown> =>
  pipe(
    perform({ _tag: "GenerateP384" }),
    flatMapEither((jwk) => keyCreation(record, ring, jwk)),
    flatMap(({ effects, created }) =>
      pipe(performAll(effects), map(() => ({ created: true, id: created.keyId, ...created })))
    ),
  );

/**
 * `POST /refresh[?ifDue=true]`: creates a key, always or only when the rotation policy says so.
 * Forcing a rotation is for members: a user (a scheduler) may only ask `ifDue=true`, so that no
 * user certificate can fill the 256 key ids and block rotation for a grace period.
 */
export const refresh = (request: AppRequest): Program<unknown> =>
  pipe(
    fromEither(pipe(
      parseQuery(request.query),
      E.flatMap((q) => flagParam(q, "ifDue")),
      E.filterOrElse(
        (ifDue) => ifDue || isMember(request.caller),
        () =>
          forbidden(
            "only members may force a rotation; a user may ask POST /refresh?ifDue=true, " +
              "which creates a key when the rotation policy says one is due",
          ),
      ),
    )),
    flatMap((ifDue) => all({ ifDue: of(ifDue), rotation: readRotationPolicy(), keys: loadKeys() })),
    flatMap(({ ifDue, rotation, keys }) =>
      pipe(
        fromEither(planRotation(keys, rotation.policy, request.now, ifDue ? "ifDue" : "always")),
        flatMap((plan): Program<unknown> =>
          plan._tag === "NotDue"
            ? of({ created: false, dueAt: plan.dueAt })
            : createKey(plan.key, keys)
        ),
      )
    ),
  );

/**
 * `GET /listpubkeys`: the keys to encrypt to (see `listedKeys`) whose receipt exists, newest last
 * (see `keyListing`). A listing depends only on the key ring, on the receipts of the keys it lists
 * (which never change once signed: key indexes are never reused) and on the keys' states, which
 * stay as they are until the ring's next state change: a complete listing is kept, serialized,
 * until one of those changes.
 */
export const listpubkeys = (request: AppRequest): Program<unknown> =>
  memo(
    {
      key: "listpubkeys",
      entry: keyRingTable,
      at: request.now,
      program: () =>
        pipe(
          loadKeys(),
          flatMap((keys) => {
            const listed = listedKeys(keys, request.now);
            return pipe(
              receiptLookups(keysTable.map, listed.map((k) => String(k.index))),
              map((receipts) => ({
                complete: receipts.every(E.isRight),
                until: nextStateChange(keys, request.now),
                answer: pipe(
                  keyListing(
                    receipts.map((r, i) =>
                      E.map((receipt) => ({ publicKey: listed[i].publicKey, receipt }))(r)
                    ),
                  ),
                  E.map(jsonText),
                ),
              })),
            );
          }),
        ),
      keepUntil: (listing) => listing.complete ? listing.until : undefined,
    },
    (listing) => fromEither(listing.answer),
  );

const requestedKid = (request: AppRequest) =>
  fromEither(pipe(parseQuery(request.query), E.flatMap(kidParam)));

/** `GET /pubkey[?kid=N]`: one key with its receipt (the newest key without `kid`). */
export const pubkey = (request: AppRequest): Program<unknown> =>
  pipe(
    requestedKid(request),
    flatMap((kid) =>
      pipe(loadKeys(), flatMapEither((keys) => keyToRelease(keys, kid, request.now)))
    ),
    flatMap((k) =>
      pipe(
        receiptOf(keysTable.map, String(k.index)),
        map((receipt) => ({ id: k.keyId, ...k, receipt })),
      )
    ),
  );

/** `/key` takes no body; a small one is tolerated because the seed's clients may send `{}`. */
const maxBodyBytes = 1024;

/** Everything a release is decided on: the decoded request and the state it reads. */
const releaseRequest = (
  request: AppRequest,
): Program<{ readonly release: ReleaseRequest; readonly policyVersion: number }> =>
  pipe(
    fromEither(
      request.bodyBytes > maxBodyBytes
        ? E.left(invalidInput(
          `this endpoint takes no body (at most ${maxBodyBytes} bytes are tolerated)`,
        ))
        : pipe(
          parseQuery(request.query),
          E.flatMap(kidParam),
          E.flatMap((kid) => pipe(jwtCaller(request.caller), E.map((c) => ({ kid, ...c })))),
        ),
    ),
    flatMap((r) =>
      pipe(
        all({ jwtPolicy: readJwtPolicy(r.issuer), policy: readReleasePolicy(), keys: loadKeys() }),
        map(({ jwtPolicy, policy, keys }) => ({
          release: { ...r, jwtPolicy, releasePolicy: policy.policy, keys, now: request.now },
          policyVersion: policy.version,
        })),
      )
    ),
  );

const wrapped = ({ key, wrappingKey }: ReleaseDecision): Program<unknown> =>
  pipe(
    receiptOf(keysTable.map, String(key.index)),
    flatMap((receipt) =>
      pipe(
        get(
          privateKeysTable.map,
          String(key.index),
          (stored) => releasePlaintext(key, stored),
          fromEither,
        ),
        flatMap((plaintext) =>
          perform(
            { _tag: "WrapRsaOaep", plaintext, wrappingKey },
            (wrappedKey) => of({ kid: key.keyId, key: toBase64(wrappedKey), receipt }),
          )
        ),
      )
    ),
  );

/**
 * `POST /key[?kid=N]`: releases a private key, wrapped to the caller's TPM key, to a caller whose
 * attestation token satisfies the key release policy, and records the release on the ledger (a
 * refusal records nothing). Never in plaintext: the seed's `encrypted` parameter is accepted and
 * has no effect. The answer adds the release's number to what the OHTTP server reads.
 */
export const key = (request: AppRequest): Program<unknown> =>
  pipe(
    releaseRequest(request),
    flatMap(({ release, policyVersion }) =>
      pipe(
        fromEither(decideRelease(release)),
        flatMap((decision) =>
          pipe(
            wrapped(decision),
            flatMap((answer) =>
              pipe(
                recordRelease(decision, release, policyVersion, requestIdOf(request.headers)),
                map((n) => ({ ...(answer as object), release: n })),
              )
            ),
          )
        ),
      )
    ),
  );

/**
 * `POST /explain[?kid=N]`: what the key release policy says about the caller's attestation token,
 * rule by rule, and which key `/key` would release; nothing is released or written.
 */
export const explain = (request: AppRequest): Program<unknown> =>
  pipe(
    releaseRequest(request),
    map(({ release, policyVersion }) => explainRelease(release, policyVersion)),
  );
