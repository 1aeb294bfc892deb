/** The key endpoints: `/refresh`, `/listpubkeys`, `/pubkey` and `/key`. */
import type * as ccfapp from "@microsoft/ccf-app/endpoints.js";
import { gather } from "../../../core/either.ts";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { keyListing, newKey, releasePlaintext, toBase64 } from "../../../core/api/keys.ts";
import { flagParam, kidParam, parseQuery } from "../../../core/api/query.ts";
import {
  decideRelease,
  type ReleaseDecision,
  type ReleaseRequest,
} from "../../../core/api/release.ts";
import { invalidInput, type KmsError, unauthenticated } from "../../../core/errors.ts";
import { keyToRelease, planRotation } from "../../../core/keys/planner.ts";
import {
  type KeyRecord,
  type PublishedKey,
  releasableKeys,
  withNewKey,
} from "../../../core/keys/record.ts";
import { type TokenClaims, TokenClaimsCodec } from "../../../core/policy/claims.ts";
import { keyRingTable, keysTable, privateKeysTable } from "../../../core/tables.ts";
import {
  deleteKey,
  generateP384Jwk,
  nowSeconds,
  readJson,
  respond,
  setClaimsDigest,
  wrapToRsaJwk,
  writeJson,
} from "../platform.ts";
import {
  keyReceipt,
  loadKeys,
  readJwtPolicy,
  readReleasePolicy,
  readRotationPolicy,
} from "../state.ts";

const createKey = (record: KeyRecord, ring: readonly PublishedKey[]) =>
  pipe(
    newKey(record, generateP384Jwk()),
    E.map(({ published, privateKey, claimsDigest }) => {
      const next = withNewKey(ring, published);
      writeJson(keysTable, String(record.index), published);
      writeJson(privateKeysTable, String(record.index), privateKey);
      writeJson(keyRingTable.map, keyRingTable.key, next.ring);
      // The replaced key has expired (its id was free): nothing may release it any more.
      if (next.replaced) deleteKey(privateKeysTable, String(next.replaced.index));
      setClaimsDigest(claimsDigest);
      return { created: true, id: published.keyId, ...published };
    }),
  );

const planFor = (query: string) =>
  pipe(
    parseQuery(query),
    E.flatMap((q) => flagParam(q, "ifDue")),
    E.flatMap((ifDue) =>
      pipe(
        gather({ rotation: readRotationPolicy(), keys: loadKeys() }),
        E.flatMap(({ rotation, keys }) =>
          pipe(
            planRotation(keys, rotation.policy, nowSeconds(), ifDue ? "ifDue" : "always"),
            E.map((plan) => ({ plan, keys })),
          )
        ),
      )
    ),
  );

/** `POST /refresh[?ifDue=true]`: creates a key, always or only when the rotation policy says so. */
export function refresh(request: ccfapp.Request): ccfapp.Response {
  return respond("refresh", request, () =>
    pipe(
      planFor(request.query),
      E.flatMap(({ plan, keys }): E.Either<KmsError, unknown> =>
        plan._tag === "NotDue"
          ? E.right({ created: false, dueAt: plan.dueAt })
          : createKey(plan.key, keys)
      ),
    ));
}

const withReceipt = (k: PublishedKey) =>
  pipe(keyReceipt(k), E.map((receipt) => ({ publicKey: k.publicKey, receipt })));

/** `GET /listpubkeys`: every releasable key whose receipt exists, newest last (see `keyListing`). */
export function listpubkeys(request: ccfapp.Request): ccfapp.Response {
  return respond("listpubkeys", request, () =>
    pipe(
      loadKeys(),
      E.flatMap((keys) => keyListing(releasableKeys(keys, nowSeconds()).map(withReceipt))),
    ));
}

const requestedKid = (request: ccfapp.Request) =>
  pipe(parseQuery(request.query), E.flatMap(kidParam));

/** `GET /pubkey[?kid=N]`: one key with its receipt (the newest key without `kid`). */
export function pubkey(request: ccfapp.Request): ccfapp.Response {
  return respond("pubkey", request, () =>
    pipe(
      requestedKid(request),
      E.flatMap((kid) =>
        pipe(loadKeys(), E.flatMap((keys) => keyToRelease(keys, kid, nowSeconds())))
      ),
      E.flatMap((k) => pipe(withReceipt(k), E.map((r) => ({ id: k.keyId, ...k, ...r })))),
    ));
}

/** `/key` takes no body; a small one is tolerated because the seed's clients may send `{}`. */
const maxBodyBytes = 1024;

const jwtCaller = (
  request: ccfapp.Request,
): E.Either<KmsError, { issuer: string; claims: TokenClaims }> => {
  const caller = request.caller as ccfapp.JwtAuthnIdentity | null | undefined;
  return caller?.policy === "jwt"
    ? pipe(
      TokenClaimsCodec.decode(caller.jwt.payload),
      E.bimap(
        () => unauthenticated("the attestation token's payload is not a JSON object"),
        (claims) => ({ issuer: caller.jwt.keyIssuer, claims }),
      ),
    )
    : E.left(unauthenticated("an attestation token is required: Authorization: Bearer <token>"));
};

const releaseRequest = (request: ccfapp.Request): E.Either<KmsError, ReleaseRequest> =>
  pipe(
    request.body.arrayBuffer().byteLength <= maxBodyBytes ? requestedKid(request) : E.left(
      invalidInput(`POST /key takes no body (at most ${maxBodyBytes} bytes are tolerated)`),
    ),
    E.flatMap((kid) => pipe(jwtCaller(request), E.map((caller) => ({ kid, ...caller })))),
    E.flatMap((r) =>
      pipe(
        gather({
          jwtPolicy: readJwtPolicy(r.issuer),
          release: readReleasePolicy(),
          keys: loadKeys(),
        }),
        E.map(({ jwtPolicy, release, keys }): ReleaseRequest => ({
          ...r,
          jwtPolicy,
          releasePolicy: release.policy,
          keys,
          now: nowSeconds(),
        })),
      )
    ),
  );

const wrapped = ({ key, wrappingKey }: ReleaseDecision) =>
  pipe(
    keyReceipt(key),
    E.flatMap((receipt) =>
      pipe(
        releasePlaintext(key, readJson(privateKeysTable, String(key.index))),
        E.map((plaintext) => ({
          kid: key.keyId,
          key: toBase64(wrapToRsaJwk(plaintext, wrappingKey)),
          receipt,
        })),
      )
    ),
  );

/**
 * `POST /key[?kid=N]`: releases a private key, wrapped to the caller's TPM key, to a caller whose
 * attestation token satisfies the key release policy. Never in plaintext: the seed's `encrypted`
 * parameter is accepted and has no effect.
 */
export function key(request: ccfapp.Request): ccfapp.Response {
  return respond(
    "key",
    request,
    () => pipe(releaseRequest(request), E.flatMap(decideRelease), E.flatMap(wrapped)),
  );
}
