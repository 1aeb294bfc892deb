/**
 * The Deno implementation of the receipt verifier's crypto capability.
 *
 * Synchronous on purpose, like the capability: certificates are parsed with @peculiar/asn1-x509
 * and ECDSA runs in @noble/curves, both pure JavaScript, instead of WebCrypto, whose API is
 * asynchronous. It uses no Deno API, so a bundle of it also runs in QuickJS. Node keys are EC (CCF
 * uses P-384); P-256 and P-521 are accepted as well. RSA certificates are rejected with a message
 * saying so.
 *
 * The rest of the project reads certificates with @peculiar/x509 (the sandbox's synchronous host
 * crypto aside, which says why); this module uses the ASN.1 schema that library is built on
 * directly, because it must see the raw signed part of the certificate, to insist on DER and to
 * verify it synchronously (@peculiar/x509 keeps it private and verifies through WebCrypto).
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  id_ce_basicConstraints,
  type SubjectPublicKeyInfo,
  type TBSCertificate,
} from "@peculiar/asn1-x509";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import { base64 } from "@scure/base";
import { concat, equal, toHex } from "../core/bytes.ts";
import type { ReceiptCrypto } from "../core/receipt/verify.ts";

type Curve = typeof p384;

interface ParsedCertificate {
  readonly tbs: TBSCertificate;
  readonly tbsDer: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
}

const ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";

// Keyed by the DER of the namedCurve OID, as it appears in the key's algorithm parameters.
const CURVES: ReadonlyMap<string, Curve> = new Map<string, Curve>([
  ["06082a8648ce3d030107", p256],
  ["06052b81040022", p384],
  ["06052b81040023", p521],
]);

type Hash = (data: Uint8Array) => Uint8Array;

const ECDSA_HASHES: ReadonlyMap<string, Hash> = new Map<string, Hash>([
  ["1.2.840.10045.4.3.2", sha256],
  ["1.2.840.10045.4.3.3", sha384],
  ["1.2.840.10045.4.3.4", sha512],
]);

// OpenSSL (hence CCF) emits high-S signatures half of the time: both halves are valid ECDSA.
const VERIFY_OPTIONS = { prehash: false, format: "der", lowS: false } as const;

const PEM = /^\s*-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----\s*$/;

const pemToDer = (pem: string, what: string): Uint8Array => {
  const body = typeof pem === "string" ? PEM.exec(pem)?.[1] : undefined;
  if (body === undefined) {
    throw new Error(`the ${what} must be exactly one PEM "CERTIFICATE" block`);
  }
  return base64.decode(body.replace(/\s+/g, ""));
};

const derLength = (n: number): Uint8Array => {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return n < 0x80 ? Uint8Array.of(n) : Uint8Array.of(0x80 | bytes.length, ...bytes);
};

const tlv = (tag: number, body: Uint8Array): Uint8Array =>
  concat(Uint8Array.of(tag), derLength(body.length), body);

/**
 * Parses a certificate and insists that its outer structure is DER: the BER parser would accept
 * other encodings (unused bits in the signature, long lengths) of the same signed content.
 */
const parseCertificate = (pem: string, what: string): ParsedCertificate => {
  const der = pemToDer(pem, what);
  const cert = AsnConvert.parse(der, Certificate);
  const signatureAlgorithm = new Uint8Array(
    AsnConvert.serialize(cert.signatureAlgorithm),
  );
  const tbsDer = new Uint8Array(cert.tbsCertificateRaw ?? new ArrayBuffer(0));
  const signature = new Uint8Array(cert.signatureValue);
  const canonical = tlv(
    0x30,
    concat(
      tbsDer,
      signatureAlgorithm,
      tlv(0x03, concat(Uint8Array.of(0), signature)),
    ),
  );
  if (!equal(canonical, der)) {
    throw new Error(`the ${what} is not a DER-encoded X.509 certificate`);
  }
  if (
    !equal(
      signatureAlgorithm,
      new Uint8Array(AsnConvert.serialize(cert.tbsCertificate.signature)),
    )
  ) {
    throw new Error(`the ${what} names two different signature algorithms`);
  }
  return {
    tbs: cert.tbsCertificate,
    tbsDer,
    signatureAlgorithm: cert.signatureAlgorithm.algorithm,
    signature,
  };
};

const ecPublicKey = (spki: SubjectPublicKeyInfo, what: string) => {
  const params = spki.algorithm.parameters;
  const curve = spki.algorithm.algorithm === ID_EC_PUBLIC_KEY && params
    ? CURVES.get(toHex(new Uint8Array(params)))
    : undefined;
  if (curve === undefined) {
    throw new Error(
      `the ${what}'s key is not an EC P-256, P-384 or P-521 key (RSA is not supported)`,
    );
  }
  return { curve, point: new Uint8Array(spki.subjectPublicKey) };
};

const isCa = (tbs: TBSCertificate): boolean => {
  const ext = tbs.extensions?.find((e) => e.extnID === id_ce_basicConstraints);
  return ext !== undefined &&
    AsnConvert.parse(ext.extnValue, BasicConstraints).cA;
};

const nameDer = (name: TBSCertificate["issuer"]): Uint8Array =>
  new Uint8Array(AsnConvert.serialize(name));

const verifyEndorsement = (certPem: string, issuerPem: string): boolean => {
  const cert = parseCertificate(certPem, "node certificate");
  const issuer = parseCertificate(issuerPem, "service certificate");
  if (!equal(nameDer(cert.tbs.issuer), nameDer(issuer.tbs.subject))) {
    throw new Error(
      "the node certificate's issuer is not the service certificate's subject",
    );
  }
  if (isCa(cert.tbs)) {
    throw new Error(
      "the node certificate is a CA certificate, which a node certificate is not",
    );
  }
  const hash = ECDSA_HASHES.get(cert.signatureAlgorithm);
  if (hash === undefined) {
    throw new Error(
      `the node certificate's signature algorithm ${cert.signatureAlgorithm} is not ` +
        "ECDSA with SHA-256, SHA-384 or SHA-512",
    );
  }
  const { curve, point } = ecPublicKey(
    issuer.tbs.subjectPublicKeyInfo,
    "service certificate",
  );
  return curve.verify(cert.signature, hash(cert.tbsDer), point, VERIFY_OPTIONS);
};

const verifyDigestSignature = (
  certPem: string,
  digest: Uint8Array,
  derSignature: Uint8Array,
): boolean => {
  const cert = parseCertificate(certPem, "node certificate");
  const { curve, point } = ecPublicKey(
    cert.tbs.subjectPublicKeyInfo,
    "node certificate",
  );
  return curve.verify(derSignature, digest, point, VERIFY_OPTIONS);
};

/**
 * Receipt crypto for Deno, a gateway or a browser: X.509 endorsement by an EC issuer (ECDSA with
 * SHA-256/384/512) and prehashed ECDSA over the receipt's root. Certificate validity dates are
 * not checked: receipts of old transactions are signed by nodes whose certificates may expire.
 */
export const denoReceiptCrypto: ReceiptCrypto = {
  verifyEndorsement,
  verifyDigestSignature,
};
