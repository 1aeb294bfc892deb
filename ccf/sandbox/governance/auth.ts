/**
 * Authentication of governance writes as CCF's `member_cose_sign1` and `active_member_cose_sign1`
 * policies do it: a COSE_Sign1 body (`Content-Type: application/cose`) whose `kid` names a
 * registered member, signed with that member's key, carrying the message type the endpoint
 * expects, and, for proposals, ballots and withdrawals, from an Active member. Failures are
 * CCF's 401 with one detail naming the policy and the reason.
 */
import { membersCerts } from "../govTables.ts";
import type { KvTransaction } from "../kv.ts";
import {
  type CoseSign1,
  type GovMessageType,
  parseGovMessage,
  verifyGovMessage,
} from "../../gov/cose.ts";
import { type GovError, govError } from "./errors.ts";
import { fromUtf8, readMember, utf8 } from "./tables.ts";

/** An authenticated governance message. */
export interface SignedRequest {
  /** The signer's member id. */
  readonly memberId: string;
  readonly message: CoseSign1;
  /** The whole COSE_Sign1 as received (kept in `cose_history`). */
  readonly envelope: Uint8Array;
}

/** The request parts authentication looks at. */
export interface GovRequestBody {
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** CCF's challenge for COSE-signed governance requests. */
const COSE_CHALLENGE = 'COSE-SIGN1 realm="Signed request access"';

const refuse = (policy: string, reason: string): GovError =>
  govError(401, "InvalidAuthenticationInfo", "Invalid authentication credentials.", {
    details: [{ auth_policy: policy, code: "InvalidAuthenticationInfo", message: reason }],
    headers: { "www-authenticate": COSE_CHALLENGE },
  });

/**
 * Authenticates `request` as a governance message of type `msgType` against the members of `tx`;
 * `activeOnly` adds CCF's check that the signer is an Active member.
 */
export function authenticateMember(
  tx: KvTransaction,
  request: GovRequestBody,
  msgType: GovMessageType,
  activeOnly: boolean,
): SignedRequest | GovError {
  const policy = activeOnly ? "active_member_cose_sign1" : "member_cose_sign1";
  const contentType = request.headers["content-type"];
  if (contentType === undefined) return refuse(policy, "Missing content-type header");
  if (contentType !== "application/cose") {
    return refuse(policy, "Content type is not set to application/cose");
  }
  const message = parseGovMessage(request.body);
  if (typeof message === "string") return refuse(policy, `Failed to decode COSE_Sign1: ${message}`);
  const cert = tx.get(membersCerts, utf8(message.headers.kid));
  if (cert === undefined) return refuse(policy, "Signer is not a known member");
  if (!verifyGovMessage(message, fromUtf8(cert))) {
    return refuse(policy, "Failed to validate COSE Sign1");
  }
  if (message.headers.msgType !== msgType) {
    return refuse(
      policy,
      `Found ccf.gov.msg.type set to ${message.headers.msgType}, expected ccf.gov.msg.type to be ${msgType}`,
    );
  }
  const memberId = message.headers.kid;
  if (activeOnly && readMember(tx, memberId)?.status !== "Active") {
    return refuse(policy, "Signer is not an ACTIVE member");
  }
  return { memberId, message, envelope: request.body };
}

/** Narrows the result of {@link authenticateMember}. */
export const isGovError = (v: SignedRequest | GovError): v is GovError => "status" in v;
