/** Governance members for the tests of ccf/gov and of the sandbox's governance. */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { certId } from "../../../ccf/gov/cose.ts";

/** A member's identity: certificate, key and id. */
export interface Member {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly id: string;
}

/** A P-384 member identity with a self-signed certificate, as CCF's sandbox creates them. */
export async function newMember(name: string): Promise<Member> {
  const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = x509.PemConverter.encode(pkcs8.buffer, "PRIVATE KEY");
  const certPem = cert.toString("pem");
  return { name, certPem, keyPem, id: certId(certPem) };
}
