/**
 * The sandbox's identities: P-384 keys stored the way `openssl ecparam -genkey` writes them (SEC1
 * "EC PRIVATE KEY" PEM), the self-signed service CA, the node certificate it endorses, and the
 * self-signed member and user certificates, as CCF's sandbox creates them.
 *
 * Generation goes through WebCrypto (what @peculiar/x509 signs with) and node:crypto only converts
 * key encodings, because WebCrypto neither reads nor writes SEC1.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
// node:crypto converts key formats only; certificates are read and issued with @peculiar/x509.
import { createPrivateKey, createPublicKey } from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { base64 } from "@scure/base";

/** ECDSA P-384 with SHA-384, for both keys and certificate signatures (CCF's default curve). */
const P384 = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" } as const;

const DAY_MS = 24 * 3600 * 1000;
// Backdated so that a client whose clock is slightly behind still accepts a fresh certificate.
const BACKDATE_MS = 60 * 60 * 1000;

/** A P-384 key pair with its private key as SEC1 PEM. */
export interface P384KeyPair {
  readonly keys: CryptoKeyPair;
  readonly privateKeyPem: string;
}

/** A certificate as PEM and DER. */
export interface Certificate {
  readonly pem: string;
  readonly der: Uint8Array;
}

/** A fresh P-384 key pair. */
export async function generateP384KeyPair(): Promise<P384KeyPair> {
  const keys = await crypto.subtle.generateKey(P384, true, ["sign", "verify"]);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const privateKeyPem = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" })
    .export({ type: "sec1", format: "pem" }) as string;
  return { keys, privateKeyPem };
}

/** Reads a P-384 private key PEM (SEC1 or PKCS#8) back into WebCrypto keys. */
export async function importP384KeyPair(privateKeyPem: string): Promise<P384KeyPair> {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "secp384r1") {
    throw new Error("expected an EC P-384 private key");
  }
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const privateKey = await crypto.subtle.importKey("pkcs8", new Uint8Array(pkcs8), P384, true, [
    "sign",
  ]);
  const publicKey = await crypto.subtle.importKey("spki", new Uint8Array(spki), P384, true, [
    "verify",
  ]);
  return { keys: { privateKey, publicKey }, privateKeyPem };
}

const serialNumber = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // a positive INTEGER
  bytes[0] |= 0x01; // and never a leading zero byte, which DER would strip
  return bytesToHex(bytes);
};

const validity = (now: number, days: number) => ({
  notBefore: new Date(now - BACKDATE_MS),
  notAfter: new Date(now + days * DAY_MS),
});

const toCertificate = (cert: x509.X509Certificate): Certificate => ({
  pem: cert.toString("pem") + "\n",
  der: new Uint8Array(cert.rawData),
});

/**
 * The service certificate: a self-signed CA, which endorses the node certificate. The demo
 * issuer's TLS CA is made the same way under another name.
 */
export async function createServiceCertificate(
  keys: CryptoKeyPair,
  now: number,
  days: number,
  name = "CN=CCF Service",
): Promise<Certificate> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name,
    ...validity(now, days),
    keys,
    signingAlgorithm: P384,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign |
          x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return toCertificate(cert);
}

/**
 * The node certificate: the TLS server certificate (for 127.0.0.1 and localhost) and the key
 * that signs ledger roots, endorsed by the service certificate and, like CCF's, not a CA. The
 * demo issuer's TLS server certificate is made the same way under another name.
 */
export async function createNodeCertificate(
  nodePublicKey: CryptoKey,
  service: { readonly keys: CryptoKeyPair; readonly certPem: string },
  now: number,
  days: number,
  subject = "CN=CCF Node",
): Promise<Certificate> {
  const issuer = new x509.X509Certificate(service.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject,
    // The issuer's encoded name, not a re-encoding of its string form: verifiers compare bytes.
    issuer: issuer.subjectName,
    ...validity(now, days),
    publicKey: nodePublicKey,
    signingKey: service.keys.privateKey,
    signingAlgorithm: P384,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(issuer),
      await x509.SubjectKeyIdentifierExtension.create(nodePublicKey),
    ],
  });
  return toCertificate(cert);
}

/** A member's or user's self-signed identity certificate, `CN=<name>`. */
export async function createIdentityCertificate(
  keys: CryptoKeyPair,
  name: string,
  now: number,
  days: number,
): Promise<Certificate> {
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${name}`,
    ...validity(now, days),
    keys,
    signingAlgorithm: P384,
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  return toCertificate(cert);
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/;

/** The DER of the first certificate of a PEM text. */
export function certificateDer(pem: string): Uint8Array {
  const body = PEM_CERT.exec(pem)?.[1];
  if (body === undefined) throw new Error("not a PEM certificate");
  return base64.decode(body.replace(/\s+/g, ""));
}

/** A PEM certificate from DER. */
export function certificatePem(der: Uint8Array): string {
  const lines = base64.encode(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/** CCF's id of a member or user: hex SHA-256 of the certificate's DER. */
export const certificateId = (certificate: string | Uint8Array): string =>
  bytesToHex(sha256(typeof certificate === "string" ? certificateDer(certificate) : certificate));

/** CCF's node id: hex SHA-256 of the DER SubjectPublicKeyInfo of the node key. */
export function nodeIdOf(privateKeyPem: string): string {
  const spki = createPublicKey(privateKeyPem).export({ type: "spki", format: "der" });
  return bytesToHex(sha256(new Uint8Array(spki)));
}

/** Validity of a certificate in milliseconds since the epoch. */
export function validityOf(pem: string): { readonly notBefore: number; readonly notAfter: number } {
  const cert = new x509.X509Certificate(pem);
  return { notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
}

/** Whether the certificate's public key is the one of `privateKeyPem`. */
export function certificateMatchesKey(certPem: string, privateKeyPem: string): boolean {
  const fromCert = new Uint8Array(new x509.X509Certificate(certPem).publicKey.rawData);
  const fromKey = createPublicKey(privateKeyPem).export({ type: "spki", format: "der" });
  return Buffer.compare(fromCert, fromKey) === 0;
}

/** Whether `certPem` was signed by the key of `issuerPem`. */
export async function isEndorsedBy(certPem: string, issuerPem: string): Promise<boolean> {
  try {
    const issuer = new x509.X509Certificate(issuerPem);
    return await new x509.X509Certificate(certPem).verify({
      publicKey: issuer.publicKey,
      signatureOnly: true,
    });
  } catch {
    return false;
  }
}
