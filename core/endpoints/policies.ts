/**
 * Read-only views of the governance-managed policies. They are public in the ledger anyway; serving
 * them lets operators and auditors check what is in force without replaying it.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { parseQuery, versionParam } from "../api/query.ts";
import type { AppRequest } from "../api/request.ts";
import {
  readJwtPolicy,
  readReleasePolicy,
  readRotationPolicy,
  readSettings,
} from "../api/state.ts";
import { flatMap, flatMapEither, fromEither, perform, type Program } from "../effects.ts";
import * as t from "io-ts";
import { jwtValidationTable } from "../tables.ts";
import { invalidInput, keyNotFound } from "../errors.ts";

const atVersion =
  (read: (version?: number) => Program<unknown>) => (request: AppRequest): Program<unknown> =>
    pipe(fromEither(pipe(parseQuery(request.query), E.flatMap(versionParam))), flatMap(read));

/**
 * `GET /keyReleasePolicy[?version=N]`: the key release policy in force and its version, or the
 * one version N's proposal set (with its proposal id).
 */
export const keyReleasePolicy = atVersion(readReleasePolicy);

/** `GET /settingsPolicy[?version=N]`: the settings in force, or version N, as above. */
export const settingsPolicy = atVersion(readSettings);

/** `GET /keyRotationPolicy[?version=N]`: the rotation policy in force, or version N, as above. */
export const keyRotationPolicy = atVersion(readRotationPolicy);

const JwtChange = t.type({ issuer: t.string, validation_policy: t.unknown });

/**
 * `GET /jwtValidationHistory`: every accepted change of a JWT validation policy, with the proposal
 * that made it (the constitution action keeps them by proposal id, so in no particular order).
 */
export const jwtValidationHistory = (_request: AppRequest): Program<unknown> =>
  pipe(
    perform({ _tag: "Entries", map: jwtValidationTable.history }),
    flatMapEither((entries) =>
      E.right({
        changes: entries.flatMap(([proposalId, change]) =>
          JwtChange.is(change) ? [{ proposalId, ...change }] : []
        ).sort((a, b) => a.proposalId.localeCompare(b.proposalId)),
      })
    ),
  );

/** `GET /jwtValidationPolicy?issuer=...`: one issuer's JWT validation policy; 404 if none is set. */
export const jwtValidationPolicy = (request: AppRequest): Program<unknown> =>
  pipe(
    fromEither(pipe(
      parseQuery(request.query),
      E.flatMap((q) => {
        const issuer = q.get("issuer") ?? [];
        return issuer.length === 1
          ? E.right(issuer[0])
          : E.left(invalidInput("give exactly one issuer=<issuer>"));
      }),
    )),
    flatMap((issuer) =>
      pipe(
        readJwtPolicy(issuer),
        flatMapEither((policy) =>
          policy === undefined
            ? E.left(keyNotFound(`no JWT validation policy is set for issuer ${issuer}`))
            : E.right({ issuer, validation_policy: policy })
        ),
      )
    ),
  );
