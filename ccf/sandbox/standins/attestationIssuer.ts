/**
 * The demo attestation issuer: an MAA-like JWT issuer on loopback that the demo and the end-to-end
 * tests use in place of Microsoft Azure Attestation.
 *
 * - `POST /token` answers `{"token_type": "bearer", "access_token": <JWT>}`: an RS256 token with
 *   the claims of an Azure confidential VM (see {@link defaultClaims}), any of which the query
 *   string overrides (see {@link parseClaimOverrides}).
 * - `GET /keys` serves the JWKS with both `n`/`e` (CCF 6) and `x5c` (CCF 5 accepts only that).
 * - `GET /.well-known/openid-configuration` points at the JWKS.
 * - `POST /rotate` replaces the signing key, as an attestation service rotates its keys: later
 *   tokens are signed with the new key, and the JWKS serves it alone.
 *
 * With `tls` it serves HTTPS with a CA of its own (issuerTls.ts) and its issuer is its own URL,
 * so that governance can trust it with `auto_refresh` and CCF fetches its keys itself.
 *
 * Its signing key, the certificate for it and the demo TPM key live in the workspace, so a restart
 * serves the same JWKS and puts the same TPM key in tokens.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { base64 } from "@scure/base";
import * as E from "fp-ts/lib/Either.js";
import { calculateJwkThumbprint, SignJWT } from "jose";
import { join } from "node:path";
import { equal, toHex } from "../../../core/bytes.ts";
import {
  decodePem,
  DEMO_KEYS_DIR,
  encodePem,
  loadRsaKeyPair,
  loadTpmKey,
  type RsaKeyFiles,
  type RsaKeyPair,
  type TpmPublicJwk,
  writeIfChanged,
} from "./tpmKey.ts";
import type { RsaPublicJwk } from "../../../core/attestation/wrappingKey.ts";
import { type IssuerTls, loadIssuerTls, TLS_HOSTNAMES } from "./issuerTls.ts";

/** The `iss` of the seed's demo issuer, which policies and scripts written for it expect. */
export const DEFAULT_ISSUER = "http://Demo-jwt-issuer";
/** Loopback only: the issuer signs whatever it is asked to, so nothing else may reach it. */
export const DEFAULT_HOSTNAME = "127.0.0.1";
/** The port of the seed's demo issuer. */
export const DEFAULT_PORT = 3000;
/** Size of the issuer's signing key. */
export const SIGNING_KEY_BITS = 2048;
/** Token lifetime. */
export const TOKEN_LIFETIME_SECONDS = 3600;
/** CCF checks `nbf` with no clock skew, so tokens are back-dated by this much. */
export const NOT_BEFORE_SKEW_SECONDS = 60;
/** Longest query string accepted on `POST /token`, in characters. */
export const MAX_QUERY_LENGTH = 4096;
/** Most parameters accepted on `POST /token`. */
export const MAX_QUERY_PARAMETERS = 64;
/** Deepest dotted claim name accepted, in segments. */
export const MAX_CLAIM_DEPTH = 8;
/** The query parameter that removes claims instead of setting one. */
export const OMIT_PARAMETER = "omit";

const CERTIFICATE_DAYS = 365;
// A certificate about to expire is replaced at start-up rather than served.
const CERTIFICATE_MIN_REMAINING_MS = 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;
const SIGNING_ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

/** How to start an issuer. */
export interface AttestationIssuerOptions {
  /** Directory for the key files (kept under `<workspace>/idp/`). */
  readonly workspace: string;
  /** TCP port; 0 picks a free one. Defaults to {@link DEFAULT_PORT}. */
  readonly port?: number;
  /** Address to listen on. Defaults to {@link DEFAULT_HOSTNAME}. */
  readonly hostname?: string;
  /**
   * The tokens' `iss`. Defaults to {@link DEFAULT_ISSUER}, or with `tls` to the issuer's URL
   * (`https://127.0.0.1:<port>`), where CCF looks for its OpenID metadata.
   */
  readonly issuer?: string;
  /** Serve HTTPS with a certificate from the issuer's own CA, kept in the workspace. */
  readonly tls?: boolean;
  /** Receives one line per request (method, path, status); silent when absent. */
  readonly log?: (line: string) => void;
  /** Current time in milliseconds; defaults to `Date.now`. */
  readonly clock?: () => number;
}

/** A running issuer. */
export interface AttestationIssuer {
  /** Base URL, e.g. `http://127.0.0.1:3000`; the token endpoint is `${url}/token`. */
  readonly url: string;
  /** The tokens' `iss`, as trusted with `set_jwt_issuer`. */
  readonly issuer: string;
  /** With `tls`: the CA certificate to trust as the issuer's CA bundle, and its file. */
  readonly ca?: { readonly certPem: string; readonly path: string };
  /** The kid of the key that signs tokens now. */
  readonly kid: string;
  /** Replaces the signing key (as `POST /rotate`); answers the new kid. */
  rotateKey(): Promise<string>;
  /** Stops listening and waits for open requests to finish; calling it again is harmless. */
  stop(): Promise<void>;
}

/** One key of the served JWKS. */
export interface SigningJwk extends RsaPublicJwk {
  readonly kid: string;
  readonly alg: "RS256";
  readonly use: "sig";
  /** Base64 (standard) DER of a self-signed certificate for this key. */
  readonly x5c: [string];
}

/** What tokens are made of; see {@link defaultClaims}. */
export interface ClaimsInput {
  readonly issuer: string;
  /** Seconds since the epoch. */
  readonly now: number;
  readonly jti: string;
  readonly tpmKey: TpmPublicJwk;
}

/** A JSON object. */
export type Claims = Record<string, unknown>;

/** A change to the default claims asked for in the token request's query. */
export type ClaimOverride =
  | { readonly kind: "set"; readonly path: readonly string[]; readonly value: unknown }
  | { readonly kind: "omit"; readonly path: readonly string[] };

/** Starts an issuer, creating its keys in the workspace on first use. */
export async function startAttestationIssuer(
  options: AttestationIssuerOptions,
): Promise<AttestationIssuer> {
  const hostname = options.hostname ?? DEFAULT_HOSTNAME;
  if (options.tls && !TLS_HOSTNAMES.includes(hostname)) {
    throw new Error(
      `an HTTPS issuer listens on ${TLS_HOSTNAMES.join(" or ")}, which its certificate names, ` +
        `not ${hostname}`,
    );
  }
  const clock = options.clock ?? Date.now;
  const log = options.log ?? (() => {});
  const tpmKey = await loadTpmKey(options.workspace);
  let signer = await loadSigner(options.workspace, clock());
  const tls = options.tls ? await loadIssuerTls(options.workspace, clock()) : undefined;
  // Rotations one after the other: each replaces the key files the next one reads.
  let rotating = Promise.resolve("");
  const rotateKey = () =>
    rotating = rotating.catch(() => "").then(async () => {
      signer = await rotateSigner(options.workspace, clock());
      return signer.jwk.kid;
    });

  let baseUrl = "";
  let issuer = options.issuer ?? DEFAULT_ISSUER;
  const routes = new Map<string, Route>([
    ["/token", {
      method: "POST",
      handle: (request) => issueToken(request, { issuer, clock, signer, tpmKey: tpmKey.publicJwk }),
    }],
    ["/keys", { method: "GET", handle: () => json(200, { keys: [signer.jwk] }) }],
    ["/rotate", { method: "POST", handle: async () => json(200, { kid: await rotateKey() }) }],
    ["/.well-known/openid-configuration", {
      method: "GET",
      handle: () =>
        json(200, {
          issuer,
          jwks_uri: `${baseUrl}/keys`,
          token_endpoint: `${baseUrl}/token`,
          id_token_signing_alg_values_supported: ["RS256"],
        }),
    }],
  ]);

  const server = Deno.serve({
    hostname,
    port: options.port ?? DEFAULT_PORT,
    ...(tls ? { cert: tls.certPem, key: tls.keyPem } : {}),
    // Deno's default prints its own banner; the CLI prints what users need instead.
    onListen: () => {},
  }, async (request) => {
    const response = await route(routes, request);
    log(`${request.method} ${printablePath(request)} ${response.status}`);
    return response;
  });
  baseUrl = `${tls ? "https" : "http"}://${
    hostname.includes(":") ? `[${hostname}]` : hostname
  }:${server.addr.port}`;
  if (tls && options.issuer === undefined) issuer = baseUrl;

  let stopping: Promise<void> | undefined;
  return {
    url: baseUrl,
    issuer,
    ...(tls ? { ca: caOf(tls) } : {}),
    get kid() {
      return signer.jwk.kid;
    },
    rotateKey,
    stop: () => stopping ??= server.shutdown(),
  };
}

/**
 * The claims of a token for a healthy Azure confidential VM (SEV-SNP, Linux, secure boot on,
 * PCRs 0-15 attested), shaped like MAA's and including what the seed's demo issuer put in.
 */
export const defaultClaims = (input: ClaimsInput): Claims => ({
  iss: input.issuer,
  iat: input.now,
  nbf: input.now - NOT_BEFORE_SKEW_SECONDS,
  exp: input.now + TOKEN_LIFETIME_SECONDS,
  jti: input.jti,
  "x-ms-ver": "1.0",
  "x-ms-attestation-type": "azurevm",
  "x-ms-policy-hash": "ZGVtby1hdHRlc3RhdGlvbi1wb2xpY3ktaGFzaA",
  "secureboot": true,
  "x-ms-azurevm-attestation-protocol-ver": "2.0",
  "x-ms-azurevm-attested-pcrs": Array.from({ length: 16 }, (_, i) => i),
  "x-ms-azurevm-bootdebug-enabled": false,
  "x-ms-azurevm-dbvalidated": true,
  "x-ms-azurevm-dbxvalidated": true,
  "x-ms-azurevm-debuggersdisabled": true,
  "x-ms-azurevm-default-securebootkeysvalidated": true,
  "x-ms-azurevm-elam-enabled": false,
  "x-ms-azurevm-flightsigning-enabled": false,
  "x-ms-azurevm-hvci-policy": 0,
  "x-ms-azurevm-hypervisordebug-enabled": false,
  "x-ms-azurevm-is-windows": false,
  "x-ms-azurevm-kerneldebug-enabled": false,
  "x-ms-azurevm-osbuild": "NotApplicable",
  "x-ms-azurevm-osdistro": "Ubuntu",
  "x-ms-azurevm-ostype": "Linux",
  "x-ms-azurevm-osversion-major": 22,
  "x-ms-azurevm-osversion-minor": 4,
  "x-ms-azurevm-signingdisabled": true,
  "x-ms-azurevm-testsigning-enabled": false,
  "x-ms-azurevm-vmid": "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
  "x-ms-isolation-tee": {
    "x-ms-attestation-type": "sevsnpvm",
    "x-ms-compliance-status": "azure-compliant-cvm",
    "x-ms-sevsnpvm-authorkeydigest": "0".repeat(96),
    "x-ms-sevsnpvm-bootloader-svn": 3,
    "x-ms-sevsnpvm-familyId": "01000000000000000000000000000000",
    "x-ms-sevsnpvm-guestsvn": 2,
    "x-ms-sevsnpvm-hostdata": "0".repeat(64),
    "x-ms-sevsnpvm-idkeydigest": "0".repeat(96),
    "x-ms-sevsnpvm-imageId": "02000000000000000000000000000000",
    "x-ms-sevsnpvm-is-debuggable": false,
    "x-ms-sevsnpvm-launchmeasurement": "de5a".repeat(24),
    "x-ms-sevsnpvm-microcode-svn": 115,
    "x-ms-sevsnpvm-migration-allowed": false,
    "x-ms-sevsnpvm-reportdata": "0".repeat(128),
    "x-ms-sevsnpvm-reportid": "0".repeat(64),
    "x-ms-sevsnpvm-smt-allowed": true,
    "x-ms-sevsnpvm-snpfw-svn": 8,
    "x-ms-sevsnpvm-tee-svn": 0,
    "x-ms-sevsnpvm-vmpl": 0,
  },
  "x-ms-runtime": { keys: [input.tpmKey] },
});

/**
 * Reads claim overrides from a token request's query: `name=value` sets a claim, `omit=name`
 * (repeated or comma-separated) removes one. A value that parses as JSON is used parsed (so
 * `x=22` is a number and `x="22"` a string), anything else as a string. Dotted names address
 * nested claims (`x-ms-isolation-tee.x-ms-compliance-status`), and a decimal segment an array
 * element (`x-ms-runtime.keys.0.kid`). Sets come in query order, omissions after them.
 */
export const parseClaimOverrides = (
  query: URLSearchParams,
): E.Either<string, readonly ClaimOverride[]> => {
  const entries = [...query];
  if (entries.length > MAX_QUERY_PARAMETERS) {
    return E.left(`at most ${MAX_QUERY_PARAMETERS} query parameters are accepted`);
  }
  const sets: ClaimOverride[] = [];
  const omits: ClaimOverride[] = [];
  for (const [name, value] of entries) {
    const names = name === OMIT_PARAMETER ? value.split(",") : [name];
    for (const claim of names) {
      const path = claimPath(claim);
      if (E.isLeft(path)) return path;
      if (name === OMIT_PARAMETER) omits.push({ kind: "omit", path: path.right });
      else sets.push({ kind: "set", path: path.right, value: parseValue(value) });
    }
  }
  return E.right([...sets, ...omits]);
};

/** Applies overrides to a copy of `claims`; fails when a path runs through a non-object. */
export const applyClaimOverrides = (
  claims: Claims,
  overrides: readonly ClaimOverride[],
): E.Either<string, Claims> => {
  const result = structuredClone(claims);
  for (const override of overrides) {
    const error = override.kind === "set"
      ? setAt(result, override.path, override.value)
      : omitAt(result, override.path);
    if (error !== undefined) return E.left(error);
  }
  return E.right(result);
};

// ---------------------------------------------------------------------------------------------
// Claim paths

// Names that would reach Object.prototype through plain objects.
const FORBIDDEN_SEGMENTS = new Set(["__proto__", "prototype", "constructor"]);

const claimPath = (name: string): E.Either<string, readonly string[]> => {
  const path = name.split(".");
  if (path.some((segment) => segment === "")) {
    return E.left(`claim name ${quote(name)} has an empty segment`);
  }
  if (path.length > MAX_CLAIM_DEPTH) {
    return E.left(`claim name ${quote(name)} is nested deeper than ${MAX_CLAIM_DEPTH} levels`);
  }
  if (path.some((segment) => FORBIDDEN_SEGMENTS.has(segment))) {
    return E.left(`claim name ${quote(name)} is not allowed`);
  }
  return E.right(path);
};

const parseValue = (value: string): unknown => {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
};

type Container = Claims | unknown[];

const isContainer = (value: unknown): value is Container =>
  typeof value === "object" && value !== null;

const arrayIndex = (array: readonly unknown[], segment: string, appending: boolean) => {
  if (!/^\d+$/.test(segment)) return undefined;
  const index = Number(segment);
  return index < array.length || (appending && index === array.length) ? index : undefined;
};

/** Walks to the container of the path's last segment, creating objects on the way. */
const parentOf = (
  root: Claims,
  path: readonly string[],
  create: boolean,
): E.Either<string, Container | undefined> => {
  let container: Container = root;
  for (let i = 0; i < path.length - 1; i++) {
    const segment = path[i];
    let child: unknown;
    if (Array.isArray(container)) {
      const index = arrayIndex(container, segment, false);
      if (index === undefined) {
        return create
          ? E.left(`${quote(path.slice(0, i + 1).join("."))} is not an element of the array`)
          : E.right(undefined);
      }
      child = container[index];
    } else {
      child = Object.hasOwn(container, segment) ? container[segment] : undefined;
      if (child === undefined) {
        if (!create) return E.right(undefined);
        child = {};
        container[segment] = child;
      }
    }
    if (!isContainer(child)) {
      return create
        ? E.left(`claim ${quote(path.slice(0, i + 1).join("."))} is not an object`)
        : E.right(undefined);
    }
    container = child;
  }
  return E.right(container);
};

const setAt = (root: Claims, path: readonly string[], value: unknown): string | undefined => {
  const parent = parentOf(root, path, true);
  if (E.isLeft(parent) || parent.right === undefined) {
    return E.isLeft(parent) ? parent.left : "unreachable claim";
  }
  const last = path[path.length - 1];
  if (Array.isArray(parent.right)) {
    const index = arrayIndex(parent.right, last, true);
    if (index === undefined) return `${quote(path.join("."))} is not an element of the array`;
    parent.right[index] = value;
  } else {
    parent.right[last] = value;
  }
  return undefined;
};

// Omitting a claim that is not there is not an error: the token lacks it either way.
const omitAt = (root: Claims, path: readonly string[]): string | undefined => {
  const parent = parentOf(root, path, false);
  if (E.isLeft(parent)) return parent.left;
  const container = parent.right;
  const last = path[path.length - 1];
  if (Array.isArray(container)) {
    const index = arrayIndex(container, last, false);
    if (index !== undefined) container.splice(index, 1);
  } else if (container !== undefined) {
    delete container[last];
  }
  return undefined;
};

// ---------------------------------------------------------------------------------------------
// Signing key and certificate

interface Signer {
  readonly privateKey: CryptoKey;
  readonly jwk: SigningJwk;
}

const signingKeyFiles = (workspace: string): RsaKeyFiles => ({
  privateKeyPath: join(workspace, DEMO_KEYS_DIR, "signing_privk.pem"),
  publicKeyPath: join(workspace, DEMO_KEYS_DIR, "signing_pubk.pem"),
});

const signingCertificatePath = (workspace: string): string =>
  join(workspace, DEMO_KEYS_DIR, "signing_cert.pem");

const loadSigner = async (workspace: string, now: number): Promise<Signer> => {
  const pair = await loadRsaKeyPair(signingKeyFiles(workspace), SIGNING_KEY_BITS);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    pair.pkcs8,
    SIGNING_ALGORITHM,
    false,
    ["sign"],
  );
  const certificate = await loadCertificate(
    signingCertificatePath(workspace),
    pair,
    privateKey,
    now,
  );
  // The RFC 7638 thumbprint changes with the key, so CCF never confuses an old key with a new
  // one, and two workspaces' issuers do not collide in CCF's kid-keyed table.
  const kid = await calculateJwkThumbprint(pair.publicJwk, "sha256");
  return {
    privateKey,
    jwk: {
      ...pair.publicJwk,
      kid,
      alg: "RS256",
      use: "sig",
      x5c: [base64.encode(certificate)],
    },
  };
};

/**
 * A new signing key in place of the stored one (written atomically, so a restart serves either
 * the old or the new key), with its certificate.
 */
const rotateSigner = async (workspace: string, now: number): Promise<Signer> => {
  const pair = await crypto.subtle.generateKey(
    { ...SIGNING_ALGORITHM, modulusLength: SIGNING_KEY_BITS, publicExponent: RSA_EXPONENT },
    true,
    ["sign", "verify"],
  );
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  await writeIfChanged(signingKeyFiles(workspace).privateKeyPath, encodePem("PRIVATE KEY", pkcs8));
  return await loadSigner(workspace, now);
};

const caOf = (tls: IssuerTls) => ({ certPem: tls.caCertPem, path: tls.caCertPath });

/** The certificate's DER: the stored one if it is for this key and not about to expire. */
const loadCertificate = async (
  path: string,
  pair: RsaKeyPair,
  privateKey: CryptoKey,
  now: number,
): Promise<Uint8Array> => {
  const stored = await readCertificate(path);
  if (
    stored !== undefined &&
    equal(new Uint8Array(stored.publicKey.rawData), pair.spki) &&
    stored.notAfter.getTime() - now > CERTIFICATE_MIN_REMAINING_MS &&
    stored.notBefore.getTime() <= now
  ) {
    return new Uint8Array(stored.rawData);
  }
  const der = await createCertificate(pair, privateKey, now);
  await writeIfChanged(path, encodePem("CERTIFICATE", der));
  return der;
};

const readCertificate = async (path: string): Promise<x509.X509Certificate | undefined> => {
  try {
    return new x509.X509Certificate(decodePem("CERTIFICATE", await Deno.readTextFile(path)));
  } catch {
    // Missing or unreadable: a fresh one is made, as it holds nothing secret.
    return undefined;
  }
};

const createCertificate = async (
  pair: RsaKeyPair,
  privateKey: CryptoKey,
  now: number,
): Promise<Uint8Array> => {
  const keys: CryptoKeyPair = {
    privateKey,
    publicKey: await crypto.subtle.importKey("spki", pair.spki, SIGNING_ALGORITHM, true, [
      "verify",
    ]),
  };
  const serial = crypto.getRandomValues(new Uint8Array(16));
  // A positive serial number: DER integers are signed.
  serial[0] &= 0x7f;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: toHex(serial),
    name: "CN=Demo attestation issuer",
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + CERTIFICATE_DAYS * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  return new Uint8Array(certificate.rawData);
};

// ---------------------------------------------------------------------------------------------
// HTTP

interface Route {
  readonly method: string;
  readonly handle: (request: Request) => Promise<Response> | Response;
}

interface TokenContext {
  readonly issuer: string;
  readonly clock: () => number;
  readonly signer: Signer;
  readonly tpmKey: TpmPublicJwk;
}

const route = async (routes: ReadonlyMap<string, Route>, request: Request): Promise<Response> => {
  // Bodies are never used; dropping them frees the connection without reading untrusted input.
  await request.body?.cancel();
  const { pathname } = new URL(request.url);
  const target = routes.get(pathname);
  if (target === undefined) return error(404, "NotFound", `no resource at ${pathname}`);
  if (request.method !== target.method) {
    return error(405, "MethodNotAllowed", `${pathname} accepts ${target.method} only`, {
      allow: target.method,
    });
  }
  try {
    return await target.handle(request);
  } catch {
    // The cause may mention key material; the status says enough.
    return error(500, "InternalError", "the issuer failed to answer");
  }
};

const issueToken = async (request: Request, context: TokenContext): Promise<Response> => {
  const url = new URL(request.url);
  if (url.search.length > MAX_QUERY_LENGTH + 1) {
    return error(414, "QueryTooLong", `the query must not exceed ${MAX_QUERY_LENGTH} characters`);
  }
  const base = defaultClaims({
    issuer: context.issuer,
    now: Math.floor(context.clock() / 1000),
    jti: crypto.randomUUID(),
    tpmKey: context.tpmKey,
  });
  const overrides = parseClaimOverrides(url.searchParams);
  const claims = E.isRight(overrides) ? applyClaimOverrides(base, overrides.right) : overrides;
  if (E.isLeft(claims)) return error(400, "InvalidClaimOverride", claims.left);
  const token = await new SignJWT(claims.right)
    .setProtectedHeader({ alg: "RS256", kid: context.signer.jwk.kid, typ: "JWT" })
    .sign(context.signer.privateKey);
  return json(200, { token_type: "bearer", access_token: token }, { "cache-control": "no-store" });
};

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

const error = (
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response => json(status, { error: { code, message } }, headers);

const quote = (name: string): string => JSON.stringify(name.slice(0, 200));

// Log lines show the path only: queries are long and of no use in a request log.
const printablePath = (request: Request): string => {
  const { pathname } = new URL(request.url);
  const printable = pathname.replace(/[^\x21-\x7e]/g, "?");
  return printable.length > 100 ? `${printable.slice(0, 100)}...` : printable;
};
