/**
 * Reading certificates, one way for the whole project: @peculiar/x509 parses them; node:crypto
 * only gets a certificate's public key as a key object for its signature checks.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPublicKey, type KeyObject } from "node:crypto";

/** A parsed certificate, from PEM or DER. */
export const certificateOf = (cert: string | Uint8Array): x509.X509Certificate =>
  new x509.X509Certificate(typeof cert === "string" ? cert : cert.slice());

/** A certificate's public key as node:crypto's key object. */
export const publicKeyOf = (cert: string | Uint8Array): KeyObject =>
  createPublicKey({
    key: Buffer.from(certificateOf(cert).publicKey.rawData),
    format: "der",
    type: "spki",
  });
