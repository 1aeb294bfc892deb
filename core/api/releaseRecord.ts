/**
 * The public record a key release leaves on the ledger: which VM (by its TPM wrapping key) got
 * which key under which policy version, and on which token (by its issuer and a digest of its
 * claims). Nothing secret: not the token, not the key. The release transaction's receipt binds
 * SHA-256 of the record's JSON text, which `/releases` serves as it is, so that anyone can check a
 * record against its receipt.
 */
import { base64urlnopad } from "@scure/base";
import { toHex } from "../bytes.ts";
import type { RsaPublicJwk } from "../attestation/wrappingKey.ts";
import type { ReleaseDecision, ReleaseRequest } from "./release.ts";

/** One key release. */
export interface ReleaseRecord {
  /** The release's number: 0, 1, 2, ... in ledger order. */
  readonly release: number;
  /** The released key: its index and its OHTTP key id. */
  readonly keyIndex: number;
  readonly kid: number;
  /** The version of the key release policy the token satisfied. */
  readonly policyVersion: number;
  /** The RFC 7638 SHA-256 thumbprint (base64url) of the TPM key the key was wrapped to. */
  readonly wrappingKeyThumbprint: string;
  /** The token's issuer, and SHA-256 (hex) of its claims as canonical JSON (sorted keys). */
  readonly issuer: string;
  readonly claimsDigest: string;
  /** The caller's request id, when it sent a usable one. */
  readonly requestId?: string;
  /** The host's clock at the release, in seconds (untrusted, as CCF gives it). */
  readonly time: number;
}

/** JSON with object keys sorted, recursively: one text for the same claims in any order. */
export const canonicalJson = (value: unknown): string =>
  Array.isArray(value)
    ? `[${value.map(canonicalJson).join(",")}]`
    : typeof value === "object" && value !== null
    ? `{${
      Object.keys(value).sort().map((k) =>
        `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`
      ).join(",")
    }}`
    : JSON.stringify(value);

/** What RFC 7638 hashes for an RSA key's thumbprint: `{"e","kty","n"}` in that order. */
export const thumbprintInput = (jwk: RsaPublicJwk): string =>
  JSON.stringify({ e: jwk.e, kty: "RSA", n: jwk.n });

/** What a release record hashes, and how to build the record from those digests. */
export const releaseDigestInputs = (decision: ReleaseDecision, request: ReleaseRequest) => ({
  /** The texts whose SHA-256 the record carries: the token's claims and the TPM key. */
  texts: [canonicalJson(request.claims), thumbprintInput(decision.wrappingKey)],
  /** The record of release number `release`, from the SHA-256 digests of `texts`. */
  record: (
    release: number,
    [claimsDigest, thumbprint]: readonly Uint8Array[],
    policyVersion: number,
    requestId: string | undefined,
  ): ReleaseRecord => ({
    release,
    keyIndex: decision.key.index,
    kid: decision.key.keyId,
    policyVersion,
    wrappingKeyThumbprint: base64urlnopad.encode(thumbprint),
    issuer: request.issuer,
    claimsDigest: toHex(claimsDigest),
    ...(requestId === undefined ? {} : { requestId }),
    time: request.now,
  }),
});
