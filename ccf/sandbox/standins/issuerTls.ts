/**
 * The demo attestation issuer's HTTPS identity: a CA of its own, kept in the workspace
 * (`idp/tls_ca_cert.pem`, its key beside it), and a server certificate for 127.0.0.1 and
 * localhost that the CA issues at every start. Governance trusts the CA certificate
 * (`set_ca_cert_bundle`) so that CCF, or the sandbox, fetches the issuer's keys over TLS checked
 * against it (`set_jwt_issuer` with `auto_refresh`).
 */
import { join } from "node:path";
import {
  certificateMatchesKey,
  createNodeCertificate,
  createServiceCertificate,
  generateP384KeyPair,
  importP384KeyPair,
  validityOf,
} from "../node/certificates.ts";
import { readIfExists } from "../node/workspace.ts";
import { DEMO_KEYS_DIR, writeIfChanged } from "./tpmKey.ts";

/** The issuer's TLS material. */
export interface IssuerTls {
  /** The CA certificate to propose as the issuer's CA bundle. */
  readonly caCertPem: string;
  /** Where the CA certificate is kept. */
  readonly caCertPath: string;
  /** The server certificate, issued by the CA. */
  readonly certPem: string;
  /** The server certificate's private key. */
  readonly keyPem: string;
}

/** The host names the server certificate is for. */
export const TLS_HOSTNAMES: readonly string[] = ["127.0.0.1", "localhost"];

const CA_DAYS = 365;
const DAY_MS = 24 * 3600 * 1000;
// A CA about to expire is replaced at start-up: the operator then proposes the new one.
const CA_MIN_REMAINING_MS = DAY_MS;

/** Where the issuer's CA certificate is kept in `workspace`. */
export const issuerCaCertPath = (workspace: string): string =>
  join(workspace, DEMO_KEYS_DIR, "tls_ca_cert.pem");

const caKeyPath = (workspace: string): string => join(workspace, DEMO_KEYS_DIR, "tls_ca_privk.pem");

/** The stored CA if it is whole, matches its key and is valid for a while yet. */
const storedCa = async (workspace: string, now: number) => {
  const [certPem, keyPem] = await Promise.all([
    readIfExists(issuerCaCertPath(workspace)),
    readIfExists(caKeyPath(workspace)),
  ]);
  if (certPem === undefined || keyPem === undefined) return undefined;
  try {
    const { notBefore, notAfter } = validityOf(certPem);
    if (!certificateMatchesKey(certPem, keyPem)) return undefined;
    if (notBefore > now || notAfter - now < CA_MIN_REMAINING_MS) return undefined;
    return { certPem, keys: (await importP384KeyPair(keyPem)).keys, notAfter };
  } catch {
    // Unreadable: a new CA is made, as it holds nothing that other data depends on.
    return undefined;
  }
};

/** Loads the CA kept in `workspace` (making one first if needed) and issues a server certificate. */
export async function loadIssuerTls(workspace: string, now: number): Promise<IssuerTls> {
  let ca = await storedCa(workspace, now);
  if (ca === undefined) {
    const pair = await generateP384KeyPair();
    const cert = await createServiceCertificate(
      pair.keys,
      now,
      CA_DAYS,
      "CN=Demo attestation issuer CA",
    );
    await Deno.mkdir(join(workspace, DEMO_KEYS_DIR), { recursive: true, mode: 0o700 });
    await writeIfChanged(caKeyPath(workspace), pair.privateKeyPem);
    await writeIfChanged(issuerCaCertPath(workspace), cert.pem);
    ca = { certPem: cert.pem, keys: pair.keys, notAfter: now + CA_DAYS * DAY_MS };
  }
  const server = await generateP384KeyPair();
  const days = Math.max(1, Math.floor((ca.notAfter - now) / DAY_MS));
  const cert = await createNodeCertificate(
    server.keys.publicKey,
    { keys: ca.keys, certPem: ca.certPem },
    now,
    days,
    "CN=Demo attestation issuer",
  );
  return {
    caCertPem: ca.certPem,
    caCertPath: issuerCaCertPath(workspace),
    certPem: cert.pem,
    keyPem: server.privateKeyPem,
  };
}
