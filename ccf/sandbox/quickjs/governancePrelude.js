// @ts-check
/**
 * Installs the governance-only part of `ccf` on top of the app prelude, as a function of the host
 * object `G` and whether this context applies a proposal. Like `prelude.js`, it is a file of its
 * own so that `deno lint` and `deno check` see it, and the host evaluates its text as a script.
 *
 * @import { GovernanceHost } from "./host.d.ts"
 */
/** @type {(G: GovernanceHost, applying: boolean) => void} */ (function (G, applying) {
  "use strict";
  const ccf = /** @type {{ ccf: Record<string, unknown> }} */ (/** @type {unknown} */ (globalThis))
    .ccf;
  const stringify = JSON.stringify;
  const TypeErr = TypeError;
  delete ccf.rpc;
  delete ccf.historical;
  delete ccf.consensus;
  if (!applying) return;
  /** @type {(n: number, expected: number) => void} */
  const argc = (n, expected) => {
    if (n !== expected) throw new TypeErr("Passed " + n + " arguments, but expected " + expected);
  };
  /** @type {(v: unknown) => string} */
  const json = (v) => {
    const s = stringify(v);
    return s === undefined ? "null" : s;
  };
  /**
   * @param {unknown} issuer
   * @param {unknown} metadata
   * @param {unknown} jwks
   */
  ccf.setJwtPublicSigningKeys = function setJwtPublicSigningKeys(issuer, metadata, jwks) {
    argc(arguments.length, 3);
    if (typeof issuer !== "string") throw new TypeErr("issuer argument is not a string");
    G.setJwtPublicSigningKeys(issuer, json(metadata), json(jwks));
  };
  /** @param {unknown} issuer */
  ccf.removeJwtPublicSigningKeys = function removeJwtPublicSigningKeys(issuer) {
    argc(arguments.length, 1);
    if (typeof issuer !== "string") throw new TypeErr("issuer argument is not a string");
    G.removeJwtPublicSigningKeys(issuer);
  };
  ccf.refreshAppBytecodeCache = function refreshAppBytecodeCache() {
    argc(arguments.length, 0);
    G.refreshAppBytecodeCache();
  };
  // A one-node sandbox has no recovery shares and a single ledger secret: these are no-ops.
  ccf.node = {
    triggerRecoverySharesRefresh: function triggerRecoverySharesRefresh() {},
    triggerLedgerRekey: function triggerLedgerRekey() {},
  };
  ccf.network = {
    getLatestLedgerSecretSeqno: function getLatestLedgerSecretSeqno() {
      return 1;
    },
  };
});
