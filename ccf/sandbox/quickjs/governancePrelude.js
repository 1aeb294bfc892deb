/**
 * Installs the governance-only part of `ccf` on top of the app prelude, as a function of the host
 * object `G` and whether this context applies a proposal.
 */
(function (G, applying) {
  "use strict";
  const ccf = globalThis.ccf;
  const stringify = JSON.stringify;
  const TypeErr = TypeError;
  delete ccf.rpc;
  delete ccf.historical;
  delete ccf.consensus;
  if (!applying) return;
  const argc = (n, expected) => {
    if (n !== expected) throw new TypeErr("Passed " + n + " arguments, but expected " + expected);
  };
  const json = (v) => {
    const s = stringify(v);
    return s === undefined ? "null" : s;
  };
  ccf.setJwtPublicSigningKeys = function setJwtPublicSigningKeys(issuer, metadata, jwks) {
    argc(arguments.length, 3);
    if (typeof issuer !== "string") throw new TypeErr("issuer argument is not a string");
    G.setJwtPublicSigningKeys(issuer, json(metadata), json(jwks));
  };
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
