/** Service endpoints: liveness and "who am I". */
import { pipe } from "fp-ts/lib/function.js";
import { describeCaller, jwtIssuerOf } from "../api/caller.ts";
import type { AppRequest } from "../api/request.ts";
import { readJwtPolicy } from "../api/state.ts";
import { flatMapEither, of, type Program } from "../effects.ts";

/** `GET /heartbeat`: answers while the app is deployed and serving. */
export const heartbeat = (_request: AppRequest): Program<unknown> => of({ status: "ok" });

/** `GET /auth`: how the caller authenticated, without echoing its credentials. */
export const auth = (request: AppRequest): Program<unknown> => {
  const issuer = jwtIssuerOf(request.caller);
  return pipe(
    issuer === undefined ? of(undefined) : readJwtPolicy(issuer),
    flatMapEither((policy) => describeCaller(request.caller, policy)),
  );
};
