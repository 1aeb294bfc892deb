/**
 * CCF's `jwt` authentication policy (CCF's src/endpoints/authentication/jwt_auth.cpp): a bearer token signed (RS256
 * or ES256) by a key that governance trusted, found by the token's `kid`, within its `nbf`/`exp`
 * window with no clock skew. Like CCF it never checks `aud` or `sub`, and `iss` only against a
 * key's issuer constraint: the app checks the payload. Unlike CCF, a key whose issuer was removed
 * from `jwt.issuers` is not used even if its key record lingers.
 *
 * Failure messages are CCF's, so clients see the same `details` as from a real node.
 */
import { Buffer } from "node:buffer";
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { base64, base64urlnopad } from "@scure/base";
import { jwtIssuers, type JwtSigningKey, jwtSigningKeys } from "../govTables.ts";
import { fromUtf8, type KvLookup, utf8 } from "./types.ts";

/** The `jwt` member of CCF's caller object. */
export interface JwtIdentity {
  /** The issuer governance registered the signing key for. */
  readonly keyIssuer: string;
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
}

/** Either the identity or CCF's reason for refusing the token. */
export type JwtResult =
  | { readonly ok: true; readonly identity: JwtIdentity }
  | { readonly ok: false; readonly reason: string };

const SUPPORTED_ALGS = ["RS256", "ES256"] as const;
const ENTRA_HOST = "login.microsoftonline.com";
const TENANT_PLACEHOLDER = "{tenantid}";

const fail = (reason: string): JwtResult => ({ ok: false, reason });

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u);

const isCount = (u: unknown): u is number => Number.isSafeInteger(u) && (u as number) >= 0;

interface ParsedToken {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  readonly alg: (typeof SUPPORTED_ALGS)[number];
  readonly kid: string;
  readonly exp: number;
  readonly nbf?: number;
  readonly iss: string;
  readonly tid?: string;
  readonly compact: string;
}

const decodePart = (part: string): unknown =>
  JSON.parse(fromUtf8(base64urlnopad.decode(part.replace(/=+$/, ""))));

/** CCF's `extract_token`: the bearer token's shape, before any key is looked at. */
const parseToken = (authorization: string | undefined): ParsedToken | string => {
  if (authorization === undefined) return "Missing authorization header";
  const space = authorization.indexOf(" ");
  if (space < 0) return "Authorization header only contains one field";
  if (authorization.slice(0, space) !== "Bearer") {
    return "Authorization header does not have Bearer scheme";
  }
  const compact = authorization.slice(space + 1);
  const parts = compact.split(".");
  if (parts.length !== 3) return "Malformed JWT: must contain exactly 3 parts";
  let header: unknown;
  let payload: unknown;
  try {
    header = decodePart(parts[0]);
    payload = decodePart(parts[1]);
  } catch (e) {
    return `JWT header or payload is not valid JSON: ${e instanceof Error ? e.message : e}`;
  }
  if (!isObject(header) || !isObject(payload)) return "JWT header or payload is not an object";
  const alg = header.alg;
  if (!SUPPORTED_ALGS.includes(alg as never) || typeof header.kid !== "string") {
    return "JWT header does not follow schema: alg must be RS256 or ES256 and kid a string";
  }
  if (!isCount(payload.exp)) return "JWT payload is missing required field: exp";
  if (typeof payload.iss !== "string") return "JWT payload is missing required field: iss";
  if (payload.nbf !== undefined && !isCount(payload.nbf)) {
    return "JWT payload is missing required field: nbf must be an integer";
  }
  if (payload.tid !== undefined && typeof payload.tid !== "string") {
    return "JWT payload is missing required field: tid must be a string";
  }
  return {
    header,
    payload,
    alg: alg as ParsedToken["alg"],
    kid: header.kid,
    exp: payload.exp,
    ...(payload.nbf !== undefined ? { nbf: payload.nbf as number } : {}),
    iss: payload.iss,
    ...(payload.tid !== undefined ? { tid: payload.tid as string } : {}),
    compact,
  };
};

/** CCF's `validate_issuer`: a key's issuer constraint, with Entra's multi-tenant rules. */
export const satisfiesConstraint = (iss: string, tid: string | undefined, constraint: string) => {
  let host: string;
  try {
    host = new URL(constraint).host;
  } catch {
    host = "";
  }
  if (host !== ENTRA_HOST) return iss === constraint && tid === undefined;
  const expected = tid !== undefined ? constraint.replace(TENANT_PLACEHOLDER, tid) : constraint;
  if (iss !== expected) return false;
  let path: string;
  try {
    path = new URL(iss).pathname;
  } catch {
    return false;
  }
  const tenant = path.split("/").find((chunk) => chunk !== "");
  return tenant !== undefined && tid !== undefined && tenant === tid;
};

// The signature is checked synchronously, as CCF checks it within the request. jose verifies only
// through WebCrypto, asynchronously, and its `await` let queued requests run before this one went
// on: `/key`'s p50 behind 32 clients fell from 5.5-5.8 to 5.0-5.2 ms without it. The key types and
// the RSA minimum are the ones jose enforced.
const keyCache = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 64;

const publicKey = (spkiBase64: string): KeyObject => {
  const cached = keyCache.get(spkiBase64);
  if (cached) return cached;
  const key = createPublicKey({
    key: Buffer.from(base64.decode(spkiBase64)),
    format: "der",
    type: "spki",
  });
  if (keyCache.size >= MAX_CACHED_KEYS) keyCache.clear();
  keyCache.set(spkiBase64, key);
  return key;
};

/** Whether `key` is one `alg` signs with: RSA of 2048 bits or more, or EC on P-256. */
const fitsAlg = (alg: ParsedToken["alg"], key: KeyObject): boolean =>
  alg === "RS256"
    ? key.asymmetricKeyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048
    : key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1";

const verifies = (token: ParsedToken, spkiBase64: string): boolean => {
  try {
    const key = publicKey(spkiBase64);
    if (!fitsAlg(token.alg, key)) return false;
    const dot = token.compact.lastIndexOf(".");
    const signed = utf8(token.compact.slice(0, dot));
    const signature = base64urlnopad.decode(token.compact.slice(dot + 1));
    return verify(
      "sha256",
      signed,
      token.alg === "ES256" ? { key, dsaEncoding: "ieee-p1363" } : key,
      signature,
    );
  } catch {
    return false;
  }
};

const signingKeysFor = (kv: KvLookup, kid: string): JwtSigningKey[] => {
  const raw = kv(jwtSigningKeys, kid);
  if (raw === undefined) return [];
  try {
    const parsed = JSON.parse(fromUtf8(raw));
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
};

/**
 * Authenticates the `authorization` header against the JWT signing keys in the committed KV;
 * `now` is the host time in whole seconds.
 */
export function authenticateJwt(
  authorization: string | undefined,
  kv: KvLookup,
  now: number,
): JwtResult {
  const token = parseToken(authorization);
  if (typeof token === "string") return fail(token);
  const keys = signingKeysFor(kv, token.kid);
  if (keys.length === 0) return fail(`JWT signing key not found for kid ${token.kid}`);
  let reason = "Signature verification failed";
  for (const key of keys) {
    if (typeof key?.public_key !== "string" || typeof key.issuer !== "string") continue;
    if (kv(jwtIssuers, key.issuer) === undefined) {
      reason = `JWT issuer ${key.issuer} of kid ${token.kid} is not trusted`;
      continue;
    }
    if (!verifies(token, key.public_key)) {
      reason = "Signature verification failed";
      continue;
    }
    if (token.nbf !== undefined && now < token.nbf) {
      reason = `Current time ${now} is before token's Not Before (nbf) claim ${token.nbf}`;
    } else if (now > token.exp) {
      reason = `Current time ${now} is after token's Expiration Time (exp) claim ${token.exp}`;
    } else if (
      key.constraint !== undefined && !satisfiesConstraint(token.iss, token.tid, key.constraint)
    ) {
      reason = `Kid ${token.kid} failed issuer constraint validation ${key.constraint}`;
    } else {
      return {
        ok: true,
        identity: { keyIssuer: key.issuer, header: token.header, payload: token.payload },
      };
    }
  }
  return fail(reason);
}
