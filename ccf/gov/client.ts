/**
 * CCF's public governance API, `api-version=2024-07-01` (the only one CCF 7 keeps): proposals,
 * ballots and withdrawals as COSE_Sign1 bodies signed by a member, proposal state and the
 * constitution. Nothing here is specific to the sandbox, so the same calls work against a real
 * CCF network.
 */
import * as E from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import { type GovMessageType, signGovMessage } from "./cose.ts";
import { ConstitutionFailure, ServiceError } from "./errors.ts";
import {
  type Answer,
  createTlsClient,
  expectJson,
  expectOk,
  failureOf,
  jsonOf,
  send,
} from "./http.ts";

/** A member who signs governance messages: its certificate and private key (PEM). */
export interface Signer {
  /** How the operator names the member, e.g. `member0`. */
  readonly label: string;
  /** The member id: hex SHA-256 of the certificate's DER. */
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** The governance API version every call names. */
export const apiVersion = "2024-07-01";

const States = ["Open", "Accepted", "Withdrawn", "Rejected", "Failed", "Dropped"] as const;
/** The states of a proposal. */
export type ProposalState = (typeof States)[number];

const Failure = t.intersection([t.type({ reason: t.string }), t.partial({ trace: t.string })]);

/** Codec of a proposal as the 2024-07-01 API describes it. */
export const ProposalInfo = t.intersection([
  t.type({
    proposalId: t.string,
    proposerId: t.string,
    proposalState: t.keyof(
      Object.fromEntries(States.map((s) => [s, null])) as {
        [K in ProposalState]: null;
      },
    ),
  }),
  t.partial({
    ballotCount: t.number,
    ballotSubmitters: t.array(t.string),
    finalVotes: t.record(t.string, t.boolean),
    voteFailures: t.record(t.string, Failure),
    failure: Failure,
  }),
]);
/** A proposal's id, proposer, state, ballots and failures. */
export type ProposalInfo = t.TypeOf<typeof ProposalInfo>;

/** The ballot a member casts: a constitution-style `vote` function returning its choice. */
export const ballotFor = (accept: boolean): string =>
  JSON.stringify({ ballot: `export function vote (proposal, proposerId) { return ${accept} }` });

/** Throws a {@link ServiceError} unless `id` can be a proposal id (it becomes part of a URL path). */
export const checkProposalId = (id: string): string => {
  // "." and ".." would be dot segments, which URL resolution removes with the segment before.
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(id) || id === "." || id === "..") {
    throw new ServiceError(`${JSON.stringify(id)} is not a proposal id (expected hex, as printed)`);
  }
  return id;
};

/** The paths of the API, relative to the service root. */
export const govPaths = {
  create: () => `/gov/members/proposals:create?api-version=${apiVersion}`,
  proposal: (id: string) =>
    `/gov/members/proposals/${checkProposalId(id)}?api-version=${apiVersion}`,
  ballot: (id: string, memberId: string) =>
    `/gov/members/proposals/${checkProposalId(id)}/ballots/${memberId}:submit` +
    `?api-version=${apiVersion}`,
  withdraw: (id: string) =>
    `/gov/members/proposals/${checkProposalId(id)}:withdraw?api-version=${apiVersion}`,
  constitution: () => `/gov/service/constitution?api-version=${apiVersion}`,
};

/** A governance API client bound to one service. */
export interface GovClient {
  /**
   * Submits a proposal (its JSON text); a refusal by `validate` is a {@link ServiceError}, a
   * throwing `resolve` or `apply` a {@link ConstitutionFailure}.
   */
  createProposal(proposal: string, signer: Signer): Promise<ProposalInfo>;
  /**
   * Submits `signer`'s ballot (its JSON text) on proposal `id`; when the ballot decides the
   * proposal and `apply` throws, a {@link ConstitutionFailure} (CCF records neither).
   */
  submitBallot(id: string, ballot: string, signer: Signer): Promise<ProposalInfo>;
  /** Withdraws proposal `id` (only its proposer may). */
  withdraw(id: string, signer: Signer): Promise<ProposalInfo>;
  getProposal(id: string): Promise<ProposalInfo>;
  /** The constitution in force (JavaScript source). */
  getConstitution(): Promise<string>;
  close(): void;
}

/** Sends one request and reads the answer. */
export type Transport = (url: string, init: RequestInit) => Promise<Answer>;

/** Options of {@link createGovClient}. */
export interface GovClientOptions {
  /** The service root, e.g. `https://127.0.0.1:8000`. */
  readonly url: string;
  readonly serviceCertPem: string;
  /** Milliseconds since the epoch, for `created_at`. Defaults to `Date.now`. */
  readonly clock?: () => number;
  /** Replaces HTTPS (tests); by default a TLS client trusting the service certificate. */
  readonly transport?: Transport;
}

/**
 * The COSE_Sign1 body of a governance message: `body` (JSON text, empty for a withdrawal) signed
 * by `signer`, created at `nowMs` (CCF wants whole seconds).
 */
export const signedMessage = (
  body: string,
  signer: Signer,
  type: GovMessageType,
  nowMs: number,
  proposalId?: string,
): Uint8Array<ArrayBuffer> =>
  signGovMessage(
    new TextEncoder().encode(body),
    signer,
    type,
    Math.floor(nowMs / 1000),
    proposalId,
  );

const decodeInfo = (answer: Answer, what: string): ProposalInfo => {
  const decoded = ProposalInfo.decode(expectJson(answer, what));
  if (E.isLeft(decoded)) {
    throw new ServiceError(
      `${what}: the service's answer is not a proposal (${answer.text.slice(0, 200)})`,
    );
  }
  return decoded.right;
};

/**
 * The constitution failure a 500 reports (`Failed to apply(): <reason>\nTrace: ...`, likewise for
 * `resolve`), if it is one.
 */
const constitutionFailureOf = (
  answer: Answer,
): { stage: "apply" | "resolve"; reason: string } | undefined => {
  if (answer.status !== 500) return undefined;
  const message = (jsonOf(answer) as { error?: { message?: unknown } } | undefined)?.error?.message;
  if (typeof message !== "string") return undefined;
  const reported = message.split("\nTrace: ")[0];
  const failed = /^Failed to (apply|resolve)\(\): (.*)$/s.exec(reported);
  if (failed) return { stage: failed[1] as "apply" | "resolve", reason: failed[2] };
  if (reported.startsWith("resolve() returned")) return { stage: "resolve", reason: reported };
  return undefined;
};

/** Throws a {@link ConstitutionFailure} when `answer` reports one; `then` says what became of it. */
const throwIfConstitutionFailed = (answer: Answer, then: string): void => {
  const failure = constitutionFailureOf(answer);
  if (failure) {
    throw new ConstitutionFailure(
      `${failure.stage} failed: ${failure.reason}; ${then}`,
      failure.stage,
      failure.reason,
    );
  }
};

/** A client of the governance API at `options.url`. */
export const createGovClient = (options: GovClientOptions): GovClient => {
  let http: Deno.HttpClient | undefined;
  const transport: Transport = options.transport ?? (() => {
    const client = http = createTlsClient(options.serviceCertPem);
    return (url: string, init: RequestInit) => send(client, url, init);
  })();
  const clock = options.clock ?? Date.now;
  const get = (path: string) => transport(`${options.url}${path}`, { method: "GET" });
  const post = (path: string, body: string, signer: Signer, type: GovMessageType, id?: string) =>
    transport(`${options.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/cose" },
      body: signedMessage(body, signer, type, clock(), id),
    });

  return {
    async createProposal(proposal, signer) {
      const answer = await post(govPaths.create(), proposal, signer, "proposal");
      throwIfConstitutionFailed(answer, "the proposal was not recorded");
      if (answer.status !== 200) {
        throw new ServiceError(`the service refused the proposal: ${failureOf(answer)}`);
      }
      return decodeInfo(answer, "submitting the proposal");
    },
    async submitBallot(id, ballot, signer) {
      const answer = await post(govPaths.ballot(id, signer.id), ballot, signer, "ballot", id);
      throwIfConstitutionFailed(
        answer,
        `the proposal is still open (the ballot of ${signer.label} was not recorded)`,
      );
      return decodeInfo(answer, `the ballot of ${signer.label} on ${id}`);
    },
    async withdraw(id, signer) {
      const answer = await post(govPaths.withdraw(id), "", signer, "withdrawal", id);
      // CCF answers 204 without a body when it holds no such proposal.
      if (answer.status === 204) throw new ServiceError(`withdrawing ${id}: no such proposal`);
      return decodeInfo(answer, `withdrawing ${id}`);
    },
    async getProposal(id) {
      return decodeInfo(await get(govPaths.proposal(id)), `reading ${id}`);
    },
    async getConstitution() {
      const answer = await get(govPaths.constitution());
      const text = expectOk(answer, "reading the constitution").text;
      // CCF answers the source as text/javascript; tolerate a JSON string as well.
      if (text.startsWith('"')) {
        try {
          return JSON.parse(text) as string;
        } catch { /* not JSON after all: the source itself */ }
      }
      return text;
    },
    close: () => http?.close(),
  };
};
