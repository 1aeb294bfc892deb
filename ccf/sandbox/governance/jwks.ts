/**
 * The host side of `ccf.setJwtPublicSigningKeys` and `ccf.removeJwtPublicSigningKeys`: JWKs become
 * the DER SubjectPublicKeyInfo records of CCF 6's `public_signing_keys_metadata_v2` table (one
 * array per kid, one entry per issuer that published that kid).
 */
import { Buffer } from "node:buffer";
import { createPublicKey } from "node:crypto";
import { publicKeyOf } from "../../gov/x509.ts";
import { type JwtSigningKey, jwtSigningKeys } from "../govTables.ts";
import type { KvTransaction } from "../kv.ts";
import { fromUtf8, utf8 } from "./tables.ts";

/** A JWKS entry as governance receives it. */
type Jwk = Record<string, unknown>;

const str = (jwk: Jwk, field: string): string => {
  const v = jwk[field];
  if (typeof v !== "string") throw new Error(`JWK ${field} must be a string`);
  return v;
};

/**
 * The DER SubjectPublicKeyInfo of a JWK, from `n`/`e` (RSA), else `x`/`y`/`crv` (EC), else the
 * first `x5c` certificate: the order CCF 6 tries them in.
 */
function jwkPublicKeyDer(jwk: Jwk): Uint8Array {
  const kid = typeof jwk.kid === "string" ? jwk.kid : "?";
  try {
    let key;
    if (jwk.n !== undefined || jwk.e !== undefined) {
      key = createPublicKey({
        key: { kty: "RSA", n: str(jwk, "n"), e: str(jwk, "e") },
        format: "jwk",
      });
    } else if (jwk.x !== undefined || jwk.y !== undefined || jwk.crv !== undefined) {
      key = createPublicKey({
        key: { kty: "EC", crv: str(jwk, "crv"), x: str(jwk, "x"), y: str(jwk, "y") },
        format: "jwk",
      });
    } else if (Array.isArray(jwk.x5c) && typeof jwk.x5c[0] === "string") {
      key = publicKeyOf(Buffer.from(jwk.x5c[0], "base64"));
    } else {
      throw new Error("no n/e, x/y/crv or x5c");
    }
    return new Uint8Array(key.export({ type: "spki", format: "der" }));
  } catch (e) {
    throw new Error(`JWT signing key ${kid} is not usable: ${(e as Error).message}`);
  }
}

const hostOf = (url: string): string | undefined => {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
};

/**
 * CCF accepts a key's own `issuer` (its constraint) only within the domain of the issuer it is
 * registered for: the same host or a subdomain of it.
 */
function checkConstraint(issuer: string, constraint: string): void {
  if (constraint === issuer) return;
  const issuerHost = hostOf(issuer), constraintHost = hostOf(constraint);
  const ok = issuerHost !== undefined && constraintHost !== undefined &&
    (constraintHost === issuerHost || constraintHost.endsWith(`.${issuerHost}`));
  if (!ok) {
    throw new Error(
      `issuer constraint ${JSON.stringify(constraint)} is not in the domain of ${
        JSON.stringify(issuer)
      }`,
    );
  }
}

/** Removes every key `issuer` published; kids left without a key disappear. */
export function removeJwtPublicSigningKeys(tx: KvTransaction, issuer: string): void {
  const rows: Array<[Uint8Array, JwtSigningKey[]]> = [];
  tx.forEach(jwtSigningKeys, (value, key) => rows.push([key, JSON.parse(fromUtf8(value))]));
  for (const [kid, keys] of rows) {
    const kept = keys.filter((k) => k.issuer !== issuer);
    if (kept.length === keys.length) continue;
    if (kept.length === 0) tx.delete(jwtSigningKeys, kid);
    else tx.set(jwtSigningKeys, kid, utf8(JSON.stringify(kept)));
  }
}

/**
 * Replaces the keys of `issuer` by those of `jwks`: kids absent from `jwks` lose this issuer's
 * key. With `key_filter: "sgx"` CCF keeps only keys carrying SGX evidence, which the sandbox's
 * issuers never do, so none is kept. Throws (nothing written) if any key is unusable.
 */
export function setJwtPublicSigningKeys(
  tx: KvTransaction,
  issuer: string,
  metadata: unknown,
  jwks: unknown,
): void {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error("JWKS must hold an array of keys");
  const sgxOnly = (metadata as { key_filter?: unknown } | null)?.key_filter === "sgx";
  const records = new Map<string, JwtSigningKey>();
  for (const jwk of keys as Jwk[]) {
    if (typeof jwk?.kid !== "string") throw new Error("every JWT signing key needs a string kid");
    if (records.has(jwk.kid)) throw new Error(`JWT signing key ${jwk.kid} appears twice`);
    const public_key = Buffer.from(jwkPublicKeyDer(jwk)).toString("base64");
    const constraint = typeof jwk.issuer === "string" ? jwk.issuer : undefined;
    if (constraint !== undefined) checkConstraint(issuer, constraint);
    records.set(jwk.kid, { public_key, issuer, ...(constraint ? { constraint } : {}) });
  }
  removeJwtPublicSigningKeys(tx, issuer);
  if (sgxOnly) return;
  for (const [kid, record] of records) {
    const existing = tx.get(jwtSigningKeys, utf8(kid));
    const others: JwtSigningKey[] = existing ? JSON.parse(fromUtf8(existing)) : [];
    tx.set(jwtSigningKeys, utf8(kid), utf8(JSON.stringify([...others, record])));
  }
}
