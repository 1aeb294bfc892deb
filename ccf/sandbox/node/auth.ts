/**
 * CCF's authentication of app requests (CCF's documentation, Build apps: Authentication): the endpoint's
 * `authn_policies` are tried in order and the first that accepts the request gives the `caller`
 * object; `[]` means no authentication and a `null` caller. When every policy refuses, the answer
 * is CCF's 401 with one `details` entry per policy and, when the last policy is `jwt` or
 * `user_cose_sign1`, its `WWW-Authenticate` challenge. A policy that fails instead of refusing (an
 * unknown name, a COSE body that cannot be decoded) fails the request with CCF's 500.
 *
 * Policies read the committed KV (governance tables) just before the request's transaction
 * begins, with nothing in between, so they see what it sees.
 */
import { certificateOf } from "../../gov/x509.ts";
import type { HostValue } from "../quickjs/mod.ts";
import { type MemberInfo, membersCerts, membersInfo, usersCerts, usersInfo } from "../govTables.ts";
import { certificateId, certificatePem } from "./certificates.ts";
import { authenticateJwt } from "./jwt.ts";
import { authenticateUserCose, COSE_CHALLENGE } from "./userCose.ts";
import { fromUtf8, type KvLookup, type NodeResponse, odataResponse } from "./types.ts";

/** One entry of an endpoint's `authn_policies`. */
export type AuthnPolicy = string | { readonly all_of: readonly string[] };

/** What policies look at. */
export interface AuthInput {
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** DER of the TLS client certificate, if any. */
  readonly clientCert?: Uint8Array;
  /** The request body (read by `user_cose_sign1`); absent means empty. */
  readonly body?: Uint8Array;
  readonly kv: KvLookup;
  /** Host time in whole seconds. */
  readonly now: number;
}

/** The caller object for the app, or the response refusing the request. */
export type AuthOutcome =
  | { readonly ok: true; readonly caller: HostValue }
  | { readonly ok: false; readonly response: NodeResponse };

type Identity = { readonly [key: string]: HostValue };

type PolicyResult =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly reason: string };

/** CCF's `WWW-Authenticate` challenge set by the `jwt` policy. */
export const JWT_CHALLENGE = 'Bearer realm="JWT bearer token access", error="invalid_token"';

const refuse = (reason: string): PolicyResult => ({ ok: false, reason });

const readJson = (kv: KvLookup, map: string, key: string): Record<string, unknown> | undefined => {
  const raw = kv(map, key);
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(fromUtf8(raw));
    return typeof parsed === "object" && parsed !== null ? parsed : undefined;
  } catch {
    return undefined;
  }
};

/** JSON data as a host value (it already is one: JSON has no other shapes). */
const asHostValue = (u: unknown): HostValue => (u === undefined ? null : u as HostValue);

const validityCache = new Map<string, { notBefore: number; notAfter: number } | null>();

/** CCF checks the validity period of user and "any" client certificates, not of members'. */
const checkValidity = (der: Uint8Array, id: string, now: number): string | undefined => {
  let period = validityCache.get(id);
  if (period === undefined) {
    try {
      const cert = certificateOf(der);
      period = {
        notBefore: Math.floor(cert.notBefore.getTime() / 1000),
        notAfter: Math.floor(cert.notAfter.getTime() / 1000),
      };
    } catch {
      period = null;
    }
    if (validityCache.size > 1000) validityCache.clear();
    validityCache.set(id, period);
  }
  if (period === null) return "Caller certificate could not be parsed";
  if (now < period.notBefore) {
    return `Current time ${now} is before certificate's Not Before validity period ${period.notBefore}`;
  }
  if (now > period.notAfter) {
    return `Current time ${now} is after certificate's Not After validity period ${period.notAfter}`;
  }
  return undefined;
};

const userCert = (input: AuthInput): PolicyResult => {
  const der = input.clientCert;
  if (!der || der.length === 0) return refuse("No caller user certificate");
  const id = certificateId(der);
  const invalid = checkValidity(der, id, input.now);
  if (invalid) return refuse(invalid);
  const pem = input.kv(usersCerts, id);
  if (pem === undefined) return refuse("Could not find matching user certificate");
  const info = readJson(input.kv, usersInfo, id);
  return {
    ok: true,
    identity: {
      policy: "user_cert",
      id,
      data: asHostValue(info?.user_data),
      cert: fromUtf8(pem),
    },
  };
};

const memberCert = (input: AuthInput): PolicyResult => {
  const der = input.clientCert;
  if (!der || der.length === 0) return refuse("No caller member certificate");
  const id = certificateId(der);
  const pem = input.kv(membersCerts, id);
  if (pem === undefined) return refuse("Could not find matching member certificate");
  const info = readJson(input.kv, membersInfo, id) as Partial<MemberInfo> | undefined;
  if (info?.status !== "Active") {
    return refuse(`Member ${id} is not active (status ${String(info?.status ?? "unknown")})`);
  }
  return {
    ok: true,
    identity: {
      policy: "member_cert",
      id,
      data: asHostValue(info.member_data),
      cert: fromUtf8(pem),
    },
  };
};

const anyCert = (input: AuthInput): PolicyResult => {
  const der = input.clientCert;
  if (!der || der.length === 0) return refuse("No caller certificate");
  const invalid = checkValidity(der, certificateId(der), input.now);
  if (invalid) return refuse(invalid);
  return { ok: true, identity: { policy: "any_cert", cert: certificatePem(der) } };
};

const jwt = (input: AuthInput): PolicyResult => {
  const result = authenticateJwt(input.headers["authorization"], input.kv, input.now);
  return result.ok
    ? {
      ok: true,
      identity: {
        policy: "jwt",
        jwt: {
          keyIssuer: result.identity.keyIssuer,
          header: result.identity.header as HostValue,
          payload: result.identity.payload as HostValue,
        },
      },
    }
    : refuse(result.reason);
};

/** A policy that fails instead of refusing: CCF answers 500 InternalError with the message. */
class PolicyFault extends Error {}

const userCoseSign1 = (input: AuthInput): PolicyResult => {
  const outcome = authenticateUserCose(input.headers, input.body ?? new Uint8Array(), input.kv);
  if (outcome.kind === "fault") throw new PolicyFault(outcome.message);
  if (outcome.kind === "refused") return refuse(outcome.reason);
  const { id, certPem, content } = outcome.identity;
  const info = readJson(input.kv, usersInfo, id);
  // CCF sets `cose` before the fields common to user identities; apps that print the caller see
  // the same order.
  return {
    ok: true,
    identity: {
      cose: { content },
      policy: "user_cose_sign1",
      id,
      data: asHostValue(info?.user_data),
      cert: certPem,
    },
  };
};

type Policy = (input: AuthInput) => PolicyResult;

const POLICIES: ReadonlyMap<string, Policy> = new Map<string, Policy>([
  ["user_cert", userCert],
  ["member_cert", memberCert],
  ["any_cert", anyCert],
  ["jwt", jwt],
  ["no_auth", () => ({ ok: true, identity: { policy: "no_auth" } })],
  ["user_cose_sign1", userCoseSign1],
]);

/** A policy that names no known scheme is a fault of the service, as in CCF. */
const single = (name: string): Policy => {
  const policy = POLICIES.get(name);
  if (!policy) throw new PolicyFault(`Unknown authentication policy '${name}'`);
  return policy;
};

/** The scheme name CCF reports for a policy: `all_of` joins its sorted members with `+`. */
const schemeName = (policy: AuthnPolicy): string =>
  typeof policy === "string" ? policy : [...policy.all_of].sort().join("+");

/**
 * `all_of`: every member must accept; the caller holds each identity under its name. The first
 * refusal is reported as `<name>:<reason>`, as CCF buries it.
 */
const allOf = (names: readonly string[], input: AuthInput): PolicyResult => {
  const sorted = [...new Set(names)].sort();
  const identity: Record<string, HostValue> = { policy: sorted };
  for (const name of sorted) {
    const result = single(name)(input);
    if (!result.ok) return refuse(`${name}:${result.reason}`);
    identity[name] = result.identity;
  }
  return { ok: true, identity };
};

/** The `WWW-Authenticate` challenges CCF's policies set when they refuse last. */
const CHALLENGES: ReadonlyMap<string, string> = new Map([
  ["jwt", JWT_CHALLENGE],
  ["user_cose_sign1", COSE_CHALLENGE],
]);

const challengeFor = (policy: AuthnPolicy, reason: string): string | undefined =>
  CHALLENGES.get(typeof policy === "string" ? policy : reason.split(":", 1)[0]);

/** Runs `policies` (CCF order and semantics) and returns the caller or the refusal. */
export function authenticate(
  policies: readonly AuthnPolicy[] | undefined,
  input: AuthInput,
): AuthOutcome {
  if (!policies || policies.length === 0) return { ok: true, caller: null };
  const details: { auth_policy: string; code: string; message: string }[] = [];
  let reason = "";
  try {
    for (const policy of policies) {
      const result = typeof policy === "string"
        ? single(policy)(input)
        : allOf(policy.all_of, input);
      if (result.ok) return { ok: true, caller: result.identity };
      reason = result.reason;
      details.push({
        auth_policy: schemeName(policy),
        code: "InvalidAuthenticationInfo",
        message: reason,
      });
    }
  } catch (e) {
    if (!(e instanceof PolicyFault)) throw e;
    return { ok: false, response: odataResponse(500, "InternalError", e.message) };
  }
  const challenge = challengeFor(policies[policies.length - 1], reason);
  return {
    ok: false,
    response: odataResponse(
      401,
      "InvalidAuthenticationInfo",
      "Invalid authentication credentials.",
      challenge ? { "www-authenticate": challenge } : {},
      details,
    ),
  };
}
