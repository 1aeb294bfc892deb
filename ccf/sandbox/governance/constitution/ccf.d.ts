/**
 * The `ccf` global as constitution code sees it: CCF's app API plus what CCF adds for governance.
 * The parts of the constitution import it from here only to be type-checked; `mod.ts` removes
 * the imports, so inside QuickJS the name is CCF's global.
 */
import type { CCF } from "@microsoft/ccf-app/global.js";

/** CCF's governance additions to `ccf` (the effects only while `apply` runs). */
export interface GovernanceCcf extends CCF {
  /** The id (SHA-256 of the DER) of the first certificate of a PEM. */
  pemToId(pem: string): string;
  setJwtPublicSigningKeys(issuer: string, metadata: unknown, jwks: unknown): void;
  removeJwtPublicSigningKeys(issuer: string): void;
  refreshAppBytecodeCache(): void;
  /** The node's governance effects (only while `apply` runs). */
  node: {
    triggerRecoverySharesRefresh(): void;
    triggerLedgerRekey(): void;
  };
  /** The service's secrets (only while `apply` runs). */
  network: {
    getLatestLedgerSecretSeqno(): number;
  };
}

export declare const ccf: GovernanceCcf;
