/**
 * Read-only views of the governance-managed policies. They are public in the ledger anyway; serving
 * them lets operators and auditors check what is in force without replaying it.
 */
import type * as ccfapp from "@microsoft/ccf-app/endpoints.js";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { parseQuery, versionParam } from "../../../core/api/query.ts";
import { invalidInput, keyNotFound, type KmsError } from "../../../core/errors.ts";
import { respond } from "../platform.ts";
import { readJwtPolicy, readReleasePolicy, readRotationPolicy, readSettings } from "../state.ts";

const atVersion =
  (request: ccfapp.Request, read: (version?: number) => E.Either<KmsError, unknown>) => () =>
    pipe(parseQuery(request.query), E.flatMap(versionParam), E.flatMap(read));

/**
 * `GET /keyReleasePolicy[?version=N]`: the key release policy in force and its version, or the
 * one version N's proposal set (with its proposal id).
 */
export function keyReleasePolicy(request: ccfapp.Request): ccfapp.Response {
  return respond("keyReleasePolicy", request, atVersion(request, readReleasePolicy));
}

/** `GET /settingsPolicy[?version=N]`: the settings in force, or version N, as above. */
export function settingsPolicy(request: ccfapp.Request): ccfapp.Response {
  return respond("settingsPolicy", request, atVersion(request, readSettings));
}

/** `GET /keyRotationPolicy[?version=N]`: the rotation policy in force, or version N, as above. */
export function keyRotationPolicy(request: ccfapp.Request): ccfapp.Response {
  return respond("keyRotationPolicy", request, atVersion(request, readRotationPolicy));
}

/** `GET /jwtValidationPolicy?issuer=...`: one issuer's JWT validation policy. */
export function jwtValidationPolicy(request: ccfapp.Request): ccfapp.Response {
  return respond("jwtValidationPolicy", request, () =>
    pipe(
      parseQuery(request.query),
      E.flatMap((q) => {
        const issuer = q.get("issuer") ?? [];
        return issuer.length === 1
          ? E.right(issuer[0])
          : E.left(invalidInput("give exactly one issuer=<issuer>"));
      }),
      E.flatMap((issuer) =>
        pipe(
          readJwtPolicy(issuer),
          E.flatMap((policy) =>
            policy === undefined
              ? E.left(keyNotFound(`no JWT validation policy is set for issuer ${issuer}`))
              : E.right({ issuer, validation_policy: policy })
          ),
        )
      ),
    ));
}
