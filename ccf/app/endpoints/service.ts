/** Service endpoints: liveness and "who am I". */
import type * as ccfapp from "@microsoft/ccf-app/endpoints.js";
import * as E from "fp-ts/lib/Either.js";
import { describeCaller } from "../../../core/api/caller.ts";
import { respond } from "../platform.ts";

/** `GET /heartbeat`: answers while the app is deployed and serving. */
export function heartbeat(request: ccfapp.Request): ccfapp.Response {
  return respond("heartbeat", request, () => E.right({ status: "ok" }));
}

/** `GET /auth`: how the caller authenticated, without echoing its credentials. */
export function auth(request: ccfapp.Request): ccfapp.Response {
  return respond("auth", request, () => describeCaller(request.caller));
}
