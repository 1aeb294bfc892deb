/**
 * The entry point that `deno task bundle` compiles into the app's single module: the wiring of
 * each handler that app.json names to its endpoint's decision in core. Each handler is defined
 * here, not re-exported, as CCF requires of the function an endpoint names.
 */
import * as history from "../../core/endpoints/history.ts";
import * as keys from "../../core/endpoints/keys.ts";
import * as policies from "../../core/endpoints/policies.ts";
import * as service from "../../core/endpoints/service.ts";
import { handler } from "./interpreter.ts";

export const heartbeat = handler("heartbeat", service.heartbeat);
export const auth = handler("auth", service.auth);
export const refresh = handler("refresh", keys.refresh);
export const listpubkeys = handler("listpubkeys", keys.listpubkeys);
export const pubkey = handler("pubkey", keys.pubkey);
export const key = handler("key", keys.key);
export const explain = handler("explain", keys.explain);
export const releases = handler("releases", history.releases);
export const keyHistory = handler("keyHistory", history.keyHistory);
export const keyReleasePolicy = handler("keyReleasePolicy", policies.keyReleasePolicy);
export const settingsPolicy = handler("settingsPolicy", policies.settingsPolicy);
export const keyRotationPolicy = handler("keyRotationPolicy", policies.keyRotationPolicy);
export const jwtValidationPolicy = handler("jwtValidationPolicy", policies.jwtValidationPolicy);
export const jwtValidationHistory = handler(
  "jwtValidationHistory",
  policies.jwtValidationHistory,
);
