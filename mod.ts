/**
 * The public API of the transparent KMS for confidential inferencing: what an OHTTP client or a
 * Deno OHTTP gateway imports.
 *
 * - **KMS client**: {@link createKmsClient} lists the KMS's public keys, trusting a key only once
 *   its CCF receipt verifies against the pinned service certificate, and releases private keys with
 *   an attestation token.
 * - **Gateway**: {@link createGateway} serves OHTTP requests with keys released by the KMS;
 *   {@link sendOhttpRequest} is the client's half of an exchange with it.
 * - **OHTTP** (RFC 9458, with the response framing of the existing attested OHTTP peers):
 *   {@link encapsulateRequest} for clients, {@link decapsulateRequest} and the returned context for
 *   gateways, binary HTTP with {@link encodeRequest} / {@link decodeRequest}.
 * - **Core formats and decisions**: OHTTP KeyConfig, the released private key's CBOR, CCF receipts,
 *   the key release policy, and the one error type with its HTTP mapping.
 *
 * Every fallible function returns an fp-ts `Either<KmsError, A>`; nothing throws on bad input.
 *
 * @module
 */

export {
  createKmsClient,
  type KmsClient,
  type KmsClientOptions,
  type PublishedKeyConfig,
  type ReleasedKey,
  type ReleaseKeyRequest,
} from "./client/kms/client.ts";
export { type ReceiptVerifier, receiptVerifier } from "./client/kms/receiptVerifier.ts";
export { denoReceiptCrypto } from "./client/receiptCrypto.ts";
export {
  type ClientContext,
  type DecapsulatedRequest,
  decapsulateRequest,
  type EncapsulatedRequest,
  encapsulateRequest,
  type GatewayContext,
  type GatewayPrivateKey,
  type RequestHeader,
  requestKeyId,
  type ResponseOptions,
} from "./client/ohttp/encapsulation.ts";
export {
  type BhttpRequest,
  type BhttpResponse,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type Field,
  type InformationalResponse,
} from "./client/ohttp/bhttp.ts";
export { importPrivateKey } from "./client/ohttp/suite.ts";
export type {
  ChunkedResponseReader,
  ChunkedResponseSealer,
} from "./client/ohttp/chunkedResponse.ts";
export { createGateway, type Gateway, type GatewayOptions } from "./client/gateway/gateway.ts";
export {
  type OhttpExchange,
  type OhttpResponse,
  sendOhttpRequest,
} from "./client/gateway/sendRequest.ts";

export {
  type HttpError,
  type KmsError,
  type KmsErrorCode,
  type PolicyFailure,
  type ReceiptCheck,
  toHttp,
} from "./core/errors.ts";
export {
  Aead,
  type AeadId,
  decodeKeyConfig,
  decodeKeyConfigList,
  encodeKeyConfig,
  encodeKeyConfigList,
  Kdf,
  type KdfId,
  Kem,
  type KemId,
  type KeyConfig,
  keyConfigFromHex,
  keyConfigToHex,
  p384KeyConfig,
  type SymmetricSuite,
  type validKeyConfig,
} from "./core/ohttp/keyConfig.ts";
export {
  decodePrivateKeyCbor,
  encodePrivateKeyCbor,
  type P384PrivateKey,
  type P384PrivateKeyFields,
  type validPrivateKey,
} from "./core/keys/privateKeyCbor.ts";
export {
  type ExpectedClaim,
  type ReceiptCrypto,
  type VerifiedReceipt,
  verifyReceipt,
  type VerifyReceiptInput,
} from "./core/receipt/verify.ts";
export type { LeafComponents, ProofStep, Receipt } from "./core/receipt/receipt.ts";
export { evaluate, type KeyReleasePolicy } from "./core/policy/keyRelease.ts";
export type { AllowedValue, ClaimRules, Thresholds } from "./core/policy/rules.ts";
export type { Either, Left, ReadonlyNonEmptyArray, Right } from "./core/either.ts";
