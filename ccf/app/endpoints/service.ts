/** Service endpoints: liveness and "who am I". */
import type * as ccfapp from "@microsoft/ccf-app/endpoints.js";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { describeCaller, jwtIssuerOf } from "../../../core/api/caller.ts";
import { respond } from "../platform.ts";
import { readJwtPolicy } from "../state.ts";

/** `GET /heartbeat`: answers while the app is deployed and serving. */
export function heartbeat(request: ccfapp.Request): ccfapp.Response {
  return respond("heartbeat", request, () => E.right({ status: "ok" }));
}

/** `GET /auth`: how the caller authenticated, without echoing its credentials. */
export function auth(request: ccfapp.Request): ccfapp.Response {
  const issuer = jwtIssuerOf(request.caller);
  return respond("auth", request, () =>
    pipe(
      issuer === undefined ? E.right(undefined) : readJwtPolicy(issuer),
      E.flatMap((policy) => describeCaller(request.caller, policy)),
    ));
}
