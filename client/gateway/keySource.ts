/**
 * Where the gateway's private keys come from: the KMS releases a key to an attestation token,
 * wrapped to the VM's TPM key, and the KMS client checks it against its published KeyConfig
 * before it is imported for HPKE.
 */
import * as E from "fp-ts/lib/Either.js";
import { internal, type KmsError } from "../../core/errors.ts";
import type { KeyConfig } from "../../core/ohttp/keyConfig.ts";
import type { KmsClient, ReleaseKeyRequest } from "../kms/client.ts";
import { importPrivateKey } from "../ohttp/suite.ts";
import { describeFailure } from "./describeFailure.ts";

/** A key the gateway decapsulates with: its published config and the imported pair. */
export interface GatewayKey {
  /** The KeyConfig the KMS published for the key, its receipt verified. */
  readonly config: KeyConfig;
  /** The private key is not extractable. */
  readonly keyPair: CryptoKeyPair;
}

/** What the gateway needs to ask the KMS for keys. */
export interface KmsKeySourceOptions {
  /** The KMS client; it verifies receipts and checks the key against its KeyConfig. */
  readonly kms: Pick<KmsClient, "releaseKey">;
  /** A fresh attestation token (MAA JWT) for each release. */
  readonly token: () => Promise<string>;
  /** Decrypts the released key with the TPM key; see {@link ReleaseKeyRequest.unwrap}. */
  readonly unwrap: ReleaseKeyRequest["unwrap"];
}

/**
 * Releases and imports the key for one key id. A thrown token or KMS failure becomes an Internal
 * Left that names the failure (fetch errors name a URL at most), never the token.
 */
export const kmsKeySource = (
  options: KmsKeySourceOptions,
): (keyId: number) => Promise<E.Either<KmsError, GatewayKey>> =>
async (keyId) => {
  let token: string;
  try {
    token = await options.token();
  } catch (e) {
    return E.left(internal(`no attestation token for key ${keyId}: ${describeFailure(e)}`));
  }
  let released;
  try {
    released = await options.kms.releaseKey({ kid: keyId, token, unwrap: options.unwrap });
  } catch (e) {
    return E.left(internal(`the KMS could not be asked for key ${keyId}: ${describeFailure(e)}`));
  }
  if (E.isLeft(released)) return released;
  const { config, privateKey } = released.right;
  if (config.keyId !== keyId) {
    return E.left(internal(`the KMS released key ${config.keyId} for key id ${keyId}`));
  }
  const keyPair = await importPrivateKey(config, privateKey.d);
  return E.isLeft(keyPair)
    ? E.left(internal(`released key ${keyId} cannot be imported: ${keyPair.left.message}`))
    : E.right({ config, keyPair: keyPair.right });
};
