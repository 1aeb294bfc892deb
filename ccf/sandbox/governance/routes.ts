/**
 * The `/gov/...` HTTP endpoints, as the node's governance handler: the 2024-07-01 API
 * (`?api-version=` required; `2023-06-01-preview` accepted too) with camelCase bodies, and the
 * classic API of CCF 5/6 (`/gov/proposals`, `/gov/ack`) with snake_case bodies. Errors are CCF's
 * OData JSON. Reads see the committed state; writes go through {@link ProposalService}.
 */
import type { ProposalInfo } from "../govTables.ts";
import { modules as modulesTable, proposals as proposalsTable } from "../govTables.ts";
import type { KvTransaction } from "../kv.ts";
import type { NodeRequest, NodeResponse } from "../node/types.ts";
import { type GovError, govError, type GovResult } from "./errors.ts";
import {
  checkPathId,
  proposalNotFound,
  type ProposalService,
  type ProposalView,
} from "./proposals.ts";
import {
  type MemberAck,
  memberAcks,
  readConstitution,
  readJson,
  readProposalInfo,
  utf8,
} from "./tables.ts";
import {
  classicSummaryJson,
  javascriptAppJson,
  javascriptModulesJson,
  jwkJson,
  listProposals,
  memberJson,
  membersJson,
  proposalJson,
  serviceJson,
  userJson,
  usersJson,
} from "./views.ts";

/** The API versions the new API accepts. */
export const API_VERSIONS = ["2023-06-01-preview", "2024-07-01"] as const;

/** Transaction status reads for `/gov/service/transactions/*`, when the host has a ledger. */
export interface TransactionStatusSource {
  /** `<view>.<seqno>` of the last committed transaction. */
  commitTxId(): string;
  /** CCF's status of a transaction id. */
  status(view: number, seqno: number): "Unknown" | "Pending" | "Committed" | "Invalid";
}

/** Options of {@link createGovernanceRoutes}. */
export interface GovernanceRoutesOptions {
  readonly transactions?: TransactionStatusSource;
}

type Params = Readonly<Record<string, string>>;
type Handler = (request: NodeRequest, params: Params) => NodeResponse;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  /** `v1`: needs `api-version`; `classic`: the deprecated unversioned API. */
  readonly api: "v1" | "classic";
  readonly handle: Handler;
}

const encoder = new TextEncoder();

const respond = (
  status: number,
  body: Uint8Array | string,
  contentType?: string,
  headers: Readonly<Record<string, string>> = {},
): NodeResponse => ({
  status,
  headers: contentType === undefined ? { ...headers } : { ...headers, "content-type": contentType },
  body: typeof body === "string" ? encoder.encode(body) : body,
});

const jsonBody = (status: number, value: unknown): NodeResponse =>
  respond(status, JSON.stringify(value), "application/json");

/** CCF's OData error response for `e`. */
function errorResponse(e: GovError): NodeResponse {
  const error = e.details ? { code: e.code, message: e.message, details: e.details } : {
    code: e.code,
    message: e.message,
  };
  return respond(e.status, JSON.stringify({ error }), "application/json", e.headers);
}

const answer = <T>(result: GovResult<T>, render: (value: T) => NodeResponse): NodeResponse =>
  result.ok ? render(result.value) : errorResponse(result.error);

const notFound = (message: string) => errorResponse(govError(404, "ResourceNotFound", message));

const queryParams = (query: string): URLSearchParams => new URLSearchParams(query);

const apiVersionError = (query: string): GovError | undefined => {
  const version = queryParams(query).get("api-version");
  const supported = `The supported api-versions are: ${API_VERSIONS.join(", ")}`;
  if (version === null) {
    return govError(
      400,
      "MissingApiVersionParameter",
      `The api-version query parameter (?api-version=) is required for this request. ${supported}`,
    );
  }
  if (!(API_VERSIONS as readonly string[]).includes(version)) {
    return govError(
      400,
      "UnsupportedApiVersionValue",
      `Unsupported api-version '${version}'. ${supported}`,
    );
  }
  return undefined;
};

const decodePath = (path: string): string => {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
};

/** Builds the `/gov/...` handler for the node (`node.setGovernanceHandler`). */
export function createGovernanceRoutes(
  service: ProposalService,
  options: GovernanceRoutesOptions = {},
): (request: NodeRequest) => Promise<NodeResponse> {
  const read = <T>(fn: (tx: KvTransaction) => T): T => service.read(fn);
  const withId = (kind: "proposal" | "member" | "user", id: string, then: () => NodeResponse) => {
    const invalid = checkPathId(kind, id);
    return invalid ? errorResponse(invalid) : then();
  };
  const proposalOr404 = (id: string, render: (view: ProposalView) => NodeResponse) =>
    withId("proposal", id, () => {
      const info = read((tx) => readProposalInfo(tx, id));
      return info ? render({ proposalId: id, info }) : errorResponse(proposalNotFound(id));
    });
  const actionsOf = (id: string) =>
    withId("proposal", id, () => {
      const body = read((tx) => tx.get(proposalsTable, utf8(id)));
      return body === undefined
        ? errorResponse(proposalNotFound(id))
        : respond(200, body, "application/json");
    });
  const ballotOf = (id: string, memberId: string, classic: boolean) =>
    withId("proposal", id, () =>
      withId("member", memberId, () => {
        const info: ProposalInfo | undefined = read((tx) => readProposalInfo(tx, id));
        if (!info) {
          return errorResponse(govError(404, "ProposalNotFound", `Proposal ${id} does not exist.`));
        }
        const ballot = info.ballots[memberId];
        if (ballot === undefined) {
          return errorResponse(
            govError(404, "VoteNotFound", `Member ${memberId} has not voted for proposal ${id}.`),
          );
        }
        return classic ? jsonBody(200, { ballot }) : respond(200, ballot, "text/javascript");
      }));
  const txStatus = (txId: string) => {
    const source = options.transactions;
    if (!source) return notFound("This node keeps no transaction statuses.");
    const m = /^(\d+)\.(\d+)$/.exec(txId);
    if (!m) {
      return errorResponse(
        govError(400, "InvalidResourceName", `'${txId}' is not a valid transaction ID`),
      );
    }
    return jsonBody(200, {
      transactionId: txId,
      status: source.status(Number(m[1]), Number(m[2])),
    });
  };

  const routes: Route[] = [
    // --- 2024-07-01: proposals, ballots, acks ---
    {
      method: "POST",
      pattern: /^\/gov\/members\/proposals:create$/,
      api: "v1",
      handle: (req) => answer(service.create(req), (v) => jsonBody(200, proposalJson(v))),
    },
    {
      method: "GET",
      pattern: /^\/gov\/members\/proposals$/,
      api: "v1",
      handle: () => jsonBody(200, { value: read(listProposals).map(proposalJson) }),
    },
    {
      method: "GET",
      pattern: /^\/gov\/members\/proposals\/(?<proposalId>[^/:]+)$/,
      api: "v1",
      handle: (_req, p) => proposalOr404(p.proposalId, (v) => jsonBody(200, proposalJson(v))),
    },
    {
      method: "GET",
      pattern: /^\/gov\/members\/proposals\/(?<proposalId>[^/:]+)\/actions$/,
      api: "v1",
      handle: (_req, p) => actionsOf(p.proposalId),
    },
    {
      method: "POST",
      pattern: /^\/gov\/members\/proposals\/(?<proposalId>[^/:]+):withdraw$/,
      api: "v1",
      handle: (req, p) =>
        answer(
          service.withdraw(req, p.proposalId),
          (v) => (v === null ? respond(204, "") : jsonBody(200, proposalJson(v))),
        ),
    },
    {
      method: "POST",
      pattern:
        /^\/gov\/members\/proposals\/(?<proposalId>[^/:]+)\/ballots\/(?<memberId>[^/:]+):submit$/,
      api: "v1",
      handle: (req, p) =>
        answer(
          service.submitBallot(req, p.proposalId, p.memberId),
          (v) => jsonBody(200, proposalJson(v)),
        ),
    },
    {
      method: "GET",
      pattern: /^\/gov\/members\/proposals\/(?<proposalId>[^/:]+)\/ballots\/(?<memberId>[^/:]+)$/,
      api: "v1",
      handle: (_req, p) => ballotOf(p.proposalId, p.memberId, false),
    },
    {
      method: "POST",
      pattern: /^\/gov\/members\/state-digests\/(?<memberId>[^/:]+):update$/,
      api: "v1",
      handle: (req, p) =>
        answer(service.updateStateDigest(req, p.memberId), (v) => jsonBody(200, v)),
    },
    {
      method: "POST",
      pattern: /^\/gov\/members\/state-digests\/(?<memberId>[^/:]+):ack$/,
      api: "v1",
      handle: (req, p) => answer(service.ack(req, p.memberId), () => respond(204, "")),
    },
    {
      method: "GET",
      pattern: /^\/gov\/members\/state-digests\/(?<memberId>[^/:]+)$/,
      api: "v1",
      handle: (_req, p) =>
        withId("member", p.memberId, () => {
          const ack = read((tx) => readJson<MemberAck>(tx, memberAcks, p.memberId));
          return ack
            ? jsonBody(200, { memberId: p.memberId, stateDigest: ack.state_digest })
            : notFound(`No ACK record exists for member ${p.memberId}.`);
        }),
    },
    // --- 2024-07-01: service state ---
    {
      method: "GET",
      pattern: /^\/gov\/service\/constitution$/,
      api: "v1",
      handle: () => {
        const constitution = read(readConstitution);
        return constitution === undefined
          ? notFound("Constitution not found")
          : respond(200, constitution, "text/javascript");
      },
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/info$/,
      api: "v1",
      handle: () => {
        const info = read(serviceJson);
        return info ? jsonBody(200, info) : notFound("Service info not yet available");
      },
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/members$/,
      api: "v1",
      handle: () => jsonBody(200, read(membersJson)),
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/members\/(?<memberId>[^/]+)$/,
      api: "v1",
      handle: (_req, p) =>
        withId("member", p.memberId, () => {
          const member = read((tx) => memberJson(tx, p.memberId));
          return member ? jsonBody(200, member) : notFound(`Member ${p.memberId} does not exist.`);
        }),
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/users$/,
      api: "v1",
      handle: () => jsonBody(200, read(usersJson)),
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/users\/(?<userId>[^/]+)$/,
      api: "v1",
      handle: (_req, p) =>
        withId("user", p.userId, () => {
          const user = read((tx) => userJson(tx, p.userId));
          return user ? jsonBody(200, user) : notFound(`User ${p.userId} does not exist.`);
        }),
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/javascript-app$/,
      api: "v1",
      handle: (req) => {
        const kase = queryParams(req.query).get("case");
        if (kase !== null && kase !== "original") {
          return errorResponse(
            govError(
              400,
              "InvalidQueryParameterValue",
              "Accepted values for the 'case' query parameter are: original",
            ),
          );
        }
        return jsonBody(200, read((tx) => javascriptAppJson(tx, kase === "original")));
      },
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/javascript-modules$/,
      api: "v1",
      handle: () => jsonBody(200, read(javascriptModulesJson)),
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/javascript-modules\/(?<moduleName>.+)$/,
      api: "v1",
      handle: (_req, p) => {
        const source = read((tx) => tx.get(modulesTable, utf8(p.moduleName)));
        return source === undefined
          ? notFound(`Module ${p.moduleName} does not exist.`)
          : respond(200, source, "text/javascript");
      },
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/jwk$/,
      api: "v1",
      handle: () => jsonBody(200, read(jwkJson)),
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/transactions\/commit$/,
      api: "v1",
      handle: () =>
        options.transactions
          ? jsonBody(200, { transactionId: options.transactions.commitTxId() })
          : notFound("This node keeps no transaction statuses."),
    },
    {
      method: "GET",
      pattern: /^\/gov\/service\/transactions\/(?<transactionId>[^/]+)$/,
      api: "v1",
      handle: (_req, p) => txStatus(p.transactionId),
    },
    // --- classic API (CCF 5/6, removed in 7) ---
    {
      method: "POST",
      pattern: /^\/gov\/proposals$/,
      api: "classic",
      handle: (req) => answer(service.create(req), (v) => jsonBody(200, classicSummaryJson(v))),
    },
    {
      method: "GET",
      pattern: /^\/gov\/proposals\/(?<proposalId>[^/]+)$/,
      api: "classic",
      handle: (_req, p) => proposalOr404(p.proposalId, (v) => jsonBody(200, v.info)),
    },
    {
      method: "GET",
      pattern: /^\/gov\/proposals\/(?<proposalId>[^/]+)\/actions$/,
      api: "classic",
      handle: (_req, p) => actionsOf(p.proposalId),
    },
    {
      method: "POST",
      pattern: /^\/gov\/proposals\/(?<proposalId>[^/]+)\/ballots$/,
      api: "classic",
      handle: (req, p) =>
        answer(
          service.submitBallot(req, p.proposalId),
          (v) => jsonBody(200, classicSummaryJson(v)),
        ),
    },
    {
      method: "GET",
      pattern: /^\/gov\/proposals\/(?<proposalId>[^/]+)\/ballots\/(?<memberId>[^/]+)$/,
      api: "classic",
      handle: (_req, p) => ballotOf(p.proposalId, p.memberId, true),
    },
    {
      method: "POST",
      pattern: /^\/gov\/proposals\/(?<proposalId>[^/]+)\/withdraw$/,
      api: "classic",
      handle: (req, p) =>
        answer(
          service.withdraw(req, p.proposalId),
          (v) => (v === null ? respond(204, "") : jsonBody(200, v.info)),
        ),
    },
    {
      method: "POST",
      pattern: /^\/gov\/ack\/update_state_digest$/,
      api: "classic",
      handle: (req) =>
        answer(
          service.updateStateDigest(req),
          (v) => jsonBody(200, { state_digest: v.stateDigest }),
        ),
    },
    {
      method: "POST",
      pattern: /^\/gov\/ack$/,
      api: "classic",
      handle: (req) => answer(service.ack(req), () => respond(204, "")),
    },
  ];

  return async (request) => {
    const path = decodePath(request.path);
    const matching = routes
      .map((route) => ({ route, match: route.pattern.exec(path) }))
      .filter((m) => m.match !== null);
    if (matching.length === 0) return notFound(`Unknown path: ${request.path}.`);
    const hit = matching.find((m) => m.route.method === request.method);
    if (!hit) {
      const allow = [...new Set(matching.map((m) => m.route.method))].join(", ");
      return errorResponse(
        govError(
          405,
          "UnsupportedHttpVerb",
          `Allowed methods for '${request.path}' are: ${allow}.`,
          { headers: { allow } },
        ),
      );
    }
    if (hit.route.api === "v1") {
      const versionError = apiVersionError(request.query);
      if (versionError) return errorResponse(versionError);
    }
    // A write runs constitution code, which may break a QuickJS instance: start with a spare.
    if (hit.route.method === "POST") await service.ready();
    return hit.route.handle(request, { ...hit.match!.groups });
  };
}
