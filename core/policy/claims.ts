/**
 * The typed catalogue of the attestation token (MAA) claims that a key release policy may test,
 * and access to those claims in a decoded token.
 *
 * Names are dotted paths into nested token objects: `x-ms-isolation-tee.x-ms-sevsnpvm-hostdata`
 * is `token["x-ms-isolation-tee"]["x-ms-sevsnpvm-hostdata"]`. Arrays are never flattened into
 * `name.0` keys.
 */
import * as E from "fp-ts/lib/Either.js";
import {
  codecFrom,
  isJsonObject,
  type JsonObject,
  own,
  type Parsed,
  problem,
} from "./validation.ts";

/** The JSON type of a claim value as a policy tests it. */
export type ClaimType = "string" | "number" | "boolean" | "number[]";

/**
 * Every fixed claim name a policy may test, with its type (Microsoft Azure Attestation's claims
 * for Azure confidential VMs).
 * `x-ms-runtime.keys` is absent on purpose: it holds the VM's ephemeral wrapping key, which
 * changes with every boot, so no policy can usefully pin it. Standard JWT claims (`iss`, `exp`,
 * ...) are checked by token validation, not by the policy.
 */
export const claimCatalogue: Readonly<Record<string, ClaimType>> = {
  "secureboot": "boolean",
  "x-ms-attestation-type": "string",
  "x-ms-azurevm-attestation-protocol-ver": "string",
  "x-ms-azurevm-attested-pcrs": "number[]",
  "x-ms-azurevm-bootdebug-enabled": "boolean",
  "x-ms-azurevm-dbvalidated": "boolean",
  "x-ms-azurevm-dbxvalidated": "boolean",
  "x-ms-azurevm-debuggersdisabled": "boolean",
  "x-ms-azurevm-default-securebootkeysvalidated": "boolean",
  "x-ms-azurevm-elam-enabled": "boolean",
  "x-ms-azurevm-flightsigning-enabled": "boolean",
  "x-ms-azurevm-hvci-policy": "number",
  "x-ms-azurevm-hypervisordebug-enabled": "boolean",
  "x-ms-azurevm-is-windows": "boolean",
  "x-ms-azurevm-kerneldebug-enabled": "boolean",
  "x-ms-azurevm-osbuild": "string",
  "x-ms-azurevm-osdistro": "string",
  "x-ms-azurevm-ostype": "string",
  "x-ms-azurevm-osversion-major": "number",
  "x-ms-azurevm-osversion-minor": "number",
  "x-ms-azurevm-signingdisabled": "boolean",
  "x-ms-azurevm-testsigning-enabled": "boolean",
  "x-ms-azurevm-vmid": "string",
  "x-ms-azurevm-os-provisioning.node-policy-identity.eventVersion": "number",
  "x-ms-azurevm-os-provisioning.node-policy-identity.policyId": "string",
  "x-ms-azurevm-os-provisioning.node-policy-identity.signer": "string",
  "x-ms-azurevm-os-provisioning.node-policy-identity.svn": "number",
  "x-ms-azurevm-os-provisioning.os-image-identity.diskId": "string",
  "x-ms-azurevm-os-provisioning.os-image-identity.eventVersion": "number",
  "x-ms-azurevm-os-provisioning.os-image-identity.signer": "string",
  "x-ms-azurevm-os-provisioning.os-image-identity.svn": "number",
  "x-ms-isolation-tee.x-ms-attestation-type": "string",
  "x-ms-isolation-tee.x-ms-compliance-status": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-authorkeydigest": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-bootloader-svn": "number",
  "x-ms-isolation-tee.x-ms-sevsnpvm-familyId": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-guestsvn": "number",
  "x-ms-isolation-tee.x-ms-sevsnpvm-hostdata": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-idkeydigest": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-imageId": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable": "boolean",
  "x-ms-isolation-tee.x-ms-sevsnpvm-launchmeasurement": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-microcode-svn": "number",
  "x-ms-isolation-tee.x-ms-sevsnpvm-migration-allowed": "boolean",
  "x-ms-isolation-tee.x-ms-sevsnpvm-reportdata": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-reportid": "string",
  "x-ms-isolation-tee.x-ms-sevsnpvm-smt-allowed": "boolean",
  "x-ms-isolation-tee.x-ms-sevsnpvm-snpfw-svn": "number",
  "x-ms-isolation-tee.x-ms-sevsnpvm-tee-svn": "number",
  "x-ms-isolation-tee.x-ms-sevsnpvm-vmpl": "number",
  "x-ms-policy-hash": "string",
  "x-ms-ver": "string",
};

/**
 * The family of caller-supplied string claims: `x-ms-runtime.client-payload.<name>` with one
 * non-empty `<name>` segment (MAA copies the VM's client payload, a flat string map, there).
 */
const clientPayloadPrefix = "x-ms-runtime.client-payload.";

/** The longest claim name accepted, in UTF-16 code units. */
const maxClaimNameLength = 1024;

const isClientPayloadName = (name: string): boolean => {
  const rest = name.slice(clientPayloadPrefix.length);
  return name.startsWith(clientPayloadPrefix) && rest !== "" &&
    !rest.includes(".") && name.length <= maxClaimNameLength;
};

/**
 * The type of the claim a policy names, or undefined when the name is not in the catalogue (nor
 * in the client payload family).
 */
export const claimType = (name: string): ClaimType | undefined =>
  own(claimCatalogue, name) ??
    (isClientPayloadName(name) ? "string" : undefined);

/** The payload of an attestation token: a JSON object of claims. */
export type TokenClaims = JsonObject;

/**
 * The most top-level claims a token may carry; a real MAA token for an Azure CVM has about 40,
 * and the caller bounds the token's length in bytes.
 */
export const maxTokenClaims = 256;

/** Codec of token claims: a JSON object of at most {@link maxTokenClaims} top-level claims. */
export const TokenClaimsCodec = codecFrom<TokenClaims>(
  "TokenClaims",
  (u): Parsed<TokenClaims> =>
    isJsonObject(u) && Object.keys(u).length <= maxTokenClaims ? E.right(u) : problem(
      isJsonObject(u)
        ? `the token carries more than ${maxTokenClaims} claims`
        : "the token payload must be a JSON object of claims",
    ),
);

/**
 * The value at a dotted claim name in a token, or undefined when any step is missing or is not
 * an object. Only own properties are followed.
 */
export const claimAt = (token: TokenClaims, name: string): unknown =>
  name.split(".").reduce<unknown>(
    (node, step) => isJsonObject(node) ? own(node, step) : undefined,
    token,
  );
