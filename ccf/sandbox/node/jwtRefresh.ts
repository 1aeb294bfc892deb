/**
 * CCF's JWT key auto-refresh (CCF:src/node/jwt_key_auto_refresh.h and the node's
 * `jwt_keys/refresh` endpoint): for every issuer whose `jwt.issuers` record has `auto_refresh`,
 * the node fetches `<issuer>/.well-known/openid-configuration`, then its `jwks_uri`, both over
 * HTTPS checked against the issuer's CA bundle (`tls.ca_cert_bundles[ca_cert_bundle_name]`) and
 * nothing else, and replaces the issuer's signing keys in a transaction of its own, validated as
 * `set_jwt_public_signing_keys` validates them. No proposal is involved.
 *
 * As on CCF: a refresh runs every `intervalS` (CCF's `jwt.key_refresh_interval_s`, default 1800)
 * and once more whenever `jwt.issuers` is written; the metadata's `issuer` becomes the constraint
 * of keys that carry none; redirects are not followed; a failure of any step (no bundle, TLS,
 * status, JSON, an unusable key, an empty JWKS) is logged and keeps the keys in force; keys that
 * did not change are not written again. The sandbox also refreshes once at start, so that a
 * restarted sandbox does not serve stale keys for a whole interval.
 */
import { request } from "node:https";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";
import type { IncomingMessage } from "node:http";
import { base64 } from "@scure/base";
import { caCertBundles, jwtIssuers, type JwtSigningKey, jwtSigningKeys } from "../govTables.ts";
import { setJwtPublicSigningKeys } from "../governance/jwks.ts";
import { isValidX509CertChain } from "../hostCrypto.ts";
import type { KvCommit, KvTransaction } from "../kv.ts";
import { fromUtf8, utf8 } from "./types.ts";

/** CCF's default `jwt.key_refresh_interval_s`. */
export const DEFAULT_JWT_KEY_REFRESH_INTERVAL_S = 1800;
/** CCF gives each request 5 s to connect and 5 s to answer. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bound on a metadata or JWKS document: an issuer is an untrusted peer. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Longest certificate chain walked back from the issuer's certificate. */
const MAX_CHAIN_DEPTH = 8;
const PREFIX = "JWT key auto-refresh";

/** What the refresher needs of a node: the committed state and governance-style commits. */
export interface JwtRefreshTarget {
  readTransaction(): KvTransaction;
  commitGovernance(fn: (tx: KvTransaction) => void): KvCommit | null;
}

/** How to refresh. */
export interface JwtKeyRefreshOptions {
  /** Seconds between refreshes (CCF's `jwt.key_refresh_interval_s`). */
  readonly intervalS: number;
  /** Receives one line per stored key set and per failure. */
  readonly log: (line: string) => void;
}

/** What one issuer's refresh did. */
export type RefreshOutcome =
  | {
    readonly issuer: string;
    readonly ok: true;
    /** The kids now trusted for the issuer. */
    readonly kids: readonly string[];
    /** The transaction that stored them, absent when they were already in force. */
    readonly txId?: string;
  }
  | { readonly issuer: string; readonly ok: false; readonly reason: string };

/** One refresh step's failure: its message is the log line's reason. */
class RefreshError extends Error {}

interface AutoRefreshIssuer {
  readonly issuer: string;
  readonly bundleName: string;
}

/** See the module documentation. */
export class JwtKeyRefresher {
  readonly #target: JwtRefreshTarget;
  readonly #options: JwtKeyRefreshOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<readonly RefreshOutcome[]> | undefined;
  #again = false;
  #stopped = false;

  constructor(target: JwtRefreshTarget, options: JwtKeyRefreshOptions) {
    if (!(Number.isSafeInteger(options.intervalS) && options.intervalS > 0)) {
      throw new Error(`the JWT key refresh interval must be a whole number of seconds > 0`);
    }
    this.#target = target;
    this.#options = options;
  }

  /** Refreshes now and then every interval. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#timer = setInterval(() => this.scheduleOnce(), this.#options.intervalS * 1000);
    this.scheduleOnce();
  }

  /** Asks for one more refresh without waiting for it (CCF's one-off refresh). */
  scheduleOnce(): void {
    this.refresh().catch((e) => this.#options.log(`error: ${PREFIX}: ${errorText(e)}`));
  }

  /**
   * Refreshes every auto-refresh issuer once and answers what happened to each. A request made
   * while a refresh runs is served by one more refresh after it, so that an issuer set meanwhile
   * is not missed; requests made meanwhile share that one.
   */
  refresh(): Promise<readonly RefreshOutcome[]> {
    if (this.#stopped) return Promise.resolve([]);
    if (this.#running === undefined) return this.#run();
    this.#again = true;
    return this.#running.then(() => this.#running ?? []);
  }

  /** Stops the timer and waits for a refresh in progress; later requests do nothing. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running?.catch(() => {});
  }

  #run(): Promise<readonly RefreshOutcome[]> {
    const run = (async () => {
      try {
        return await this.#refreshAll();
      } finally {
        this.#running = undefined;
        if (this.#again && !this.#stopped) {
          this.#again = false;
          this.#run().catch((e) => this.#options.log(`error: ${PREFIX}: ${errorText(e)}`));
        }
      }
    })();
    this.#running = run;
    return run;
  }

  async #refreshAll(): Promise<readonly RefreshOutcome[]> {
    const outcomes: RefreshOutcome[] = [];
    for (const issuer of autoRefreshIssuers(this.#target.readTransaction())) {
      if (this.#stopped) break;
      const outcome = await this.#refreshIssuer(issuer);
      outcomes.push(outcome);
      if (!outcome.ok) {
        this.#options.log(
          `error: ${PREFIX}: keys of issuer '${issuer.issuer}' kept: ${outcome.reason}`,
        );
      } else if (outcome.txId !== undefined) {
        this.#options.log(
          `${PREFIX}: stored ${outcome.kids.length} signing key(s) of issuer ` +
            `'${issuer.issuer}' (kid ${outcome.kids.join(", ")}) at ${outcome.txId}`,
        );
      }
    }
    return outcomes;
  }

  async #refreshIssuer({ issuer, bundleName }: AutoRefreshIssuer): Promise<RefreshOutcome> {
    try {
      const bundle = readBundle(this.#target.readTransaction(), bundleName);
      const metadata = await fetchJson(
        `${issuer}/.well-known/openid-configuration`,
        bundle,
        "OpenID metadata",
      );
      const jwksUri = metadata.jwks_uri;
      if (typeof jwksUri !== "string") {
        throw new RefreshError("the OpenID metadata has no jwks_uri string");
      }
      const constraint = typeof metadata.issuer === "string" ? metadata.issuer : undefined;
      const jwks = withConstraint(await fetchJson(jwksUri, bundle, "JWKS"), constraint);
      // No await from here on: what is checked is what is committed.
      return this.#store(issuer, jwks);
    } catch (e) {
      return { issuer, ok: false, reason: errorText(e) };
    }
  }

  #store(issuer: string, jwks: Record<string, unknown>): RefreshOutcome {
    const apply = (tx: KvTransaction) => {
      const metadata = readJson(tx, jwtIssuers, issuer) as { auto_refresh?: unknown } | undefined;
      if (metadata?.auto_refresh !== true) {
        throw new RefreshError(`${issuer} does not have auto_refresh enabled any more`);
      }
      const before = keysOf(tx, issuer);
      try {
        setJwtPublicSigningKeys(tx, issuer, metadata, jwks);
      } catch (e) {
        throw new RefreshError(`the JWKS is not usable: ${errorText(e)}`);
      }
      const after = keysOf(tx, issuer);
      if (after.size === 0) throw new RefreshError("no keys left after applying the key filter");
      return { changed: !sameKeys(before, after), kids: [...after.keys()].sort() };
    };
    // A trial on a transaction that is never committed decides whether anything is written.
    const trial = apply(this.#target.readTransaction());
    if (!trial.changed) return { issuer, ok: true, kids: trial.kids };
    const commit = this.#target.commitGovernance((tx) => void apply(tx));
    return { issuer, ok: true, kids: trial.kids, ...(commit ? { txId: commit.txId } : {}) };
  }
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u);

const readJson = (tx: KvTransaction, map: string, key: string): unknown => {
  const raw = tx.get(map, utf8(key));
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(fromUtf8(raw));
  } catch {
    return undefined;
  }
};

/** Issuers with `auto_refresh`, in key order, as CCF walks `jwt.issuers`. */
const autoRefreshIssuers = (tx: KvTransaction): AutoRefreshIssuer[] => {
  const found: AutoRefreshIssuer[] = [];
  tx.forEach(jwtIssuers, (value, key) => {
    let metadata: unknown;
    try {
      metadata = JSON.parse(fromUtf8(value));
    } catch {
      return;
    }
    if (!isObject(metadata) || metadata.auto_refresh !== true) return;
    const bundleName = typeof metadata.ca_cert_bundle_name === "string"
      ? metadata.ca_cert_bundle_name
      : "";
    found.push({ issuer: fromUtf8(key), bundleName });
  });
  return found.sort((a, b) => a.issuer < b.issuer ? -1 : a.issuer > b.issuer ? 1 : 0);
};

const readBundle = (tx: KvTransaction, name: string): string => {
  const bundle = readJson(tx, caCertBundles, name);
  if (typeof bundle !== "string") {
    throw new RefreshError(`CA cert bundle with name '${name}' not found`);
  }
  return bundle;
};

/** The issuer's key records by kid, as JSON for comparison. */
const keysOf = (tx: KvTransaction, issuer: string): Map<string, string> => {
  const keys = new Map<string, string>();
  tx.forEach(jwtSigningKeys, (value, kid) => {
    const records = JSON.parse(fromUtf8(value)) as JwtSigningKey[];
    const mine = records.find((r) => r.issuer === issuer);
    if (mine) keys.set(fromUtf8(kid), JSON.stringify(mine));
  });
  return keys;
};

const sameKeys = (a: Map<string, string>, b: Map<string, string>): boolean =>
  a.size === b.size && [...a].every(([kid, record]) => b.get(kid) === record);

/**
 * The JWKS with `constraint` on every key that has no issuer of its own, as CCF does with the
 * metadata's `issuer` (Entra's multi-tenant `{tenantid}` issuers rely on it).
 */
const withConstraint = (
  jwks: Record<string, unknown>,
  constraint: string | undefined,
): Record<string, unknown> => {
  if (!Array.isArray(jwks.keys)) throw new RefreshError("the JWKS has no keys array");
  if (jwks.keys.length === 0) throw new RefreshError("the JWKS has no keys");
  if (constraint === undefined) return jwks;
  return {
    ...jwks,
    keys: jwks.keys.map((key) =>
      isObject(key) && key.issuer === undefined ? { ...key, issuer: constraint } : key
    ),
  };
};

const fetchJson = async (
  url: string,
  bundle: string,
  what: string,
): Promise<Record<string, unknown>> => {
  const { status, body } = await httpsGet(url, bundle).catch((e) => {
    throw new RefreshError(`cannot fetch the ${what} at ${url}: ${errorText(e)}`);
  });
  if (status !== 200) throw new RefreshError(`the ${what} at ${url} answered ${status}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new RefreshError(`the ${what} at ${url} is not JSON`);
  }
  if (!isObject(parsed)) throw new RefreshError(`the ${what} at ${url} is not a JSON object`);
  return parsed;
};

/**
 * GET over HTTPS, trusting only the certificates of `bundle`, with the host name checked against
 * the certificate; redirects are answers like any other.
 */
const httpsGet = (url: string, bundle: string): Promise<{ status: number; body: string }> => {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new Error("not a URL"));
  }
  if (target.protocol !== "https:") return Promise.reject(new Error("not an https URL"));
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: target.port || 443,
      path: `${target.pathname}${target.search}`,
      method: "GET",
      headers: { accept: "application/json" },
      ca: bundle,
      agent: false,
      timeout: REQUEST_TIMEOUT_MS,
    }, (res) => {
      if (!chainedToBundle(res, bundle)) {
        res.destroy();
        return reject(new Error("the server's certificate is not issued by the CA bundle"));
      }
      readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end();
  });
};

/**
 * Deno's TLS may add its default roots to the ones given, where CCF trusts the bundle alone: the
 * chain the server presented must lead to a certificate of the bundle.
 */
const chainedToBundle = (res: IncomingMessage, bundle: string): boolean => {
  const socket = res.socket as TLSSocket;
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate?.(true);
  const chain: string[] = [];
  for (let depth = 0; cert?.raw && depth < MAX_CHAIN_DEPTH; depth++) {
    chain.push(pemOf(cert.raw));
    const next: DetailedPeerCertificate | undefined = cert.issuerCertificate;
    if (!next || next === cert || next.raw?.equals(cert.raw)) break;
    cert = next;
  }
  return chain.length > 0 && isValidX509CertChain(chain.join(""), bundle);
};

const pemOf = (der: Uint8Array): string => {
  const body = base64.encode(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${body.join("\n")}\n-----END CERTIFICATE-----\n`;
};

const readBody = (res: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    res.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.destroy(new Error(`the answer is larger than ${MAX_RESPONSE_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on("end", () => resolve(new TextDecoder().decode(concat(chunks, size))));
    res.on("error", reject);
    res.on("close", () => {
      if (!res.complete) reject(new Error("the connection closed before the answer was complete"));
    });
  });

const concat = (chunks: readonly Uint8Array[], size: number): Uint8Array => {
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return all;
};
