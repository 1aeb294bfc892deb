/**
 * What the CLI's demo-only options use of the sandbox's stand-ins, and nothing else of it:
 * `trust-issuer --demo` trusts the demo attestation issuer (`deno task idp`), and
 * `key --unwrap-workspace` unwraps a released key with the demo TPM key. Every other command
 * speaks only CCF's public API, so it works against a real CCF network.
 */
import {
  DEFAULT_HOSTNAME,
  DEFAULT_ISSUER,
  DEFAULT_PORT,
  loadTpmKey,
  type TpmKey,
  tpmKeyFiles,
} from "@kms/sandbox";
import { isFile } from "./context.ts";
import { CliError } from "./errors.ts";

/** The `iss` of the demo issuer's tokens. */
export const demoIssuer = DEFAULT_ISSUER;

/** Where `deno task idp` listens by default. */
export const defaultIdpUrl = `http://${DEFAULT_HOSTNAME}:${DEFAULT_PORT}`;

/** The demo TPM key kept in `workspace` (by `deno task idp`); an error if there is none. */
export const demoTpmKey = async (workspace: string): Promise<TpmKey> => {
  // loadTpmKey creates a key when there is none; a new key could not unwrap anything, so a wrong
  // directory must fail here instead.
  const { privateKeyPath } = tpmKeyFiles(workspace);
  if (!await isFile(privateKeyPath)) {
    throw new CliError(
      `${workspace} has no demo TPM key (${privateKeyPath}): give the workspace of the demo ` +
        "issuer (deno task idp --workspace)",
    );
  }
  return await loadTpmKey(workspace);
};
