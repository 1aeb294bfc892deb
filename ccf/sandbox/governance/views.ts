/**
 * The read side of the governance API: proposals in both API shapes (2024-07-01 camelCase,
 * classic snake_case) and the `/gov/service/*` descriptions of members, users, the JavaScript app,
 * trusted JWT issuers and the service, built from the governance tables as CCF builds them.
 */
import { Buffer } from "node:buffer";
import { createPublicKey } from "node:crypto";
import {
  caCertBundles,
  endpoints as endpointsTable,
  jwtIssuers,
  type JwtSigningKey,
  jwtSigningKeys,
  type MemberInfo,
  membersCerts,
  membersInfo,
  modules as modulesTable,
  type ProposalInfo,
  proposalsInfo,
  serviceInfo,
  singletonKey,
  usersCerts,
  usersInfo,
} from "../govTables.ts";
import type { KvTransaction } from "../kv.ts";
import type { ProposalView } from "./proposals.ts";
import {
  entries,
  fromUtf8,
  memberEncryptionKeys,
  readServiceConfig,
  type ServiceConfig,
  utf8,
} from "./tables.ts";

type Json = Record<string, unknown>;

/** A proposal as the 2024-07-01 API returns it. */
export function proposalJson({ proposalId, info }: ProposalView): Json {
  return {
    proposalId,
    proposerId: info.proposer_id,
    proposalState: info.state,
    ballotCount: Object.keys(info.ballots).length,
    ...(info.final_votes ? { finalVotes: info.final_votes } : {}),
    ...(info.vote_failures ? { voteFailures: info.vote_failures } : {}),
    ...(info.failure ? { failure: info.failure } : {}),
  };
}

/** A proposal as the classic API summarises it after a proposal or a ballot. */
export function classicSummaryJson({ proposalId, info }: ProposalView): Json {
  return {
    proposal_id: proposalId,
    proposer_id: info.proposer_id,
    state: info.state,
    ballot_count: Object.keys(info.ballots).length,
    ...(info.final_votes ? { votes: info.final_votes } : {}),
    ...(info.vote_failures ? { vote_failures: info.vote_failures } : {}),
    ...(info.failure ? { failure: info.failure } : {}),
  };
}

/** Every proposal still in the tables (Open ones and the last closed one). */
export function listProposals(tx: KvTransaction): ProposalView[] {
  return entries(tx, proposalsInfo).map(([proposalId, raw]) => ({
    proposalId,
    info: JSON.parse(fromUtf8(raw)) as ProposalInfo,
  }));
}

const json = (raw: Uint8Array | undefined): unknown =>
  raw === undefined ? undefined : JSON.parse(fromUtf8(raw));

/** `/gov/service/members/{id}`, or `undefined` for an unknown member. */
export function memberJson(tx: KvTransaction, memberId: string): Json | undefined {
  const info = json(tx.get(membersInfo, utf8(memberId))) as MemberInfo | undefined;
  if (!info) return undefined;
  const cert = tx.get(membersCerts, utf8(memberId));
  const encryptionKey = tx.get(memberEncryptionKeys, utf8(memberId));
  return {
    memberId,
    status: info.status,
    memberData: info.member_data ?? null,
    ...(cert ? { certificate: fromUtf8(cert) } : {}),
    ...(encryptionKey ? { publicEncryptionKey: fromUtf8(encryptionKey) } : {}),
    recoveryRole: info.recovery_role ?? (encryptionKey ? "Participant" : "NonParticipant"),
  };
}

/** `/gov/service/members`. */
export const membersJson = (tx: KvTransaction): Json => ({
  value: entries(tx, membersInfo).map(([id]) => memberJson(tx, id)),
});

/** `/gov/service/users/{id}`, or `undefined` for an unknown user. */
export function userJson(tx: KvTransaction, userId: string): Json | undefined {
  const cert = tx.get(usersCerts, utf8(userId));
  if (!cert) return undefined;
  return {
    userId,
    certificate: fromUtf8(cert),
    userData: json(tx.get(usersInfo, utf8(userId))) ?? null,
  };
}

/** `/gov/service/users`. */
export const usersJson = (tx: KvTransaction): Json => ({
  value: entries(tx, usersCerts).map(([id]) => userJson(tx, id)),
});

const configurationJson = (c: ServiceConfig): Json => ({
  recoveryThreshold: c.recovery_threshold,
  maximumNodeCertificateValidityDays: c.maximum_node_certificate_validity_days,
  maximumServiceCertificateValidityDays: c.maximum_service_certificate_validity_days,
  recentCoseProposalsWindowSize: c.recent_cose_proposals_window_size,
});

/** `/gov/service/info`, or `undefined` before the service exists. */
export function serviceJson(tx: KvTransaction): Json | undefined {
  const info = json(tx.get(serviceInfo, singletonKey)) as Json | undefined;
  if (!info) return undefined;
  return {
    status: info.status,
    certificate: info.cert,
    recoveryCount: info.recovery_count ?? 0,
    ...(info.current_service_create_txid
      ? { creationTransactionId: info.current_service_create_txid }
      : {}),
    serviceData: info.service_data ?? null,
    configuration: configurationJson(readServiceConfig(tx)),
  };
}

/**
 * `/gov/service/javascript-app`: endpoints by path and method, in CCF's camelCase description, or
 * (`original`) the stored properties as they are.
 */
export function javascriptAppJson(tx: KvTransaction, original: boolean): Json {
  const endpoints: Record<string, Record<string, unknown>> = {};
  for (const [key, raw] of entries(tx, endpointsTable)) {
    const space = key.indexOf(" ");
    const method = key.slice(0, space), path = key.slice(space + 1);
    const p = JSON.parse(fromUtf8(raw)) as Json;
    (endpoints[path] ??= {})[method] = original ? p : {
      jsModule: p.js_module,
      jsFunction: p.js_function,
      forwardingRequired: p.forwarding_required ?? "always",
      redirectionStrategy: p.redirection_strategy ?? "none",
      authnPolicies: p.authn_policies ?? [],
      mode: p.mode ?? "readwrite",
      openApi: p.openapi ?? {},
    };
  }
  return { endpoints };
}

/** `/gov/service/javascript-modules`. */
export const javascriptModulesJson = (tx: KvTransaction): Json => ({
  value: entries(tx, modulesTable).map(([moduleName]) => ({ moduleName })),
});

const spkiToPem = (base64Der: string): string => {
  try {
    return createPublicKey({ key: Buffer.from(base64Der, "base64"), format: "der", type: "spki" })
      .export({ type: "spki", format: "pem" }) as string;
  } catch {
    return base64Der;
  }
};

/** `/gov/service/jwk`: trusted issuers, their signing keys (PEM) and the CA bundles. */
export function jwkJson(tx: KvTransaction): Json {
  const issuers: Record<string, unknown> = {};
  for (const [issuer, raw] of entries(tx, jwtIssuers)) {
    const m = JSON.parse(fromUtf8(raw)) as Json;
    issuers[issuer] = {
      autoRefresh: m.auto_refresh === true,
      ...(typeof m.ca_cert_bundle_name === "string"
        ? { caCertBundleName: m.ca_cert_bundle_name }
        : {}),
    };
  }
  const keys: Record<string, unknown> = {};
  for (const [kid, raw] of entries(tx, jwtSigningKeys)) {
    keys[kid] = (JSON.parse(fromUtf8(raw)) as JwtSigningKey[]).map((k) => ({
      publicKey: spkiToPem(k.public_key),
      issuer: k.issuer,
      constraint: k.constraint ?? null,
    }));
  }
  const bundles: Record<string, unknown> = {};
  for (const [name, raw] of entries(tx, caCertBundles)) bundles[name] = JSON.parse(fromUtf8(raw));
  return { issuers, keys, caCertBundles: bundles };
}
