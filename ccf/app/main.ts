/**
 * The entry point that `deno task bundle` compiles into the app's single module. Bundling inlines
 * every handler into that module, so each one is a local export, as CCF requires of the function an
 * endpoint names.
 */
export { auth, heartbeat } from "./endpoints/service.ts";
export { key, listpubkeys, pubkey, refresh } from "./endpoints/keys.ts";
export {
  jwtValidationPolicy,
  keyReleasePolicy,
  keyRotationPolicy,
  settingsPolicy,
} from "./endpoints/policies.ts";
