/**
 * Member activation as on CCF: a member registered by `set_member` is Accepted; it asks for the
 * service's state digest (the Merkle root), signs it back in an `ack` message, and becomes
 * Active, which lets it propose and vote. The signed ack is kept as evidence.
 */
import { Buffer } from "node:buffer";
import { membersInfo } from "../govTables.ts";
import type { KvTransaction } from "../kv.ts";
import type { SignedRequest } from "./auth.ts";
import { type GovError, govError } from "./errors.ts";
import { fromUtf8, type MemberAck, memberAcks, readJson, readMember, writeJson } from "./tables.ts";

/** A state digest a member must acknowledge. */
export interface StateDigestView {
  readonly memberId: string;
  readonly stateDigest: string;
}

/** Records `root` as the digest `memberId` must acknowledge next. */
export function refreshStateDigest(
  tx: KvTransaction,
  memberId: string,
  root: Uint8Array,
): StateDigestView {
  const stateDigest = Buffer.from(root).toString("hex");
  const previous = readJson<MemberAck>(tx, memberAcks, memberId);
  writeJson(tx, memberAcks, memberId, { ...previous, state_digest: stateDigest });
  return { memberId, stateDigest };
}

/**
 * Checks the digest `signed` acknowledges (`{stateDigest}`, or the classic `{state_digest}`) and
 * activates its member. Returns whether the member became Active now, or the refusal.
 */
export function acknowledgeStateDigest(
  tx: KvTransaction,
  signed: SignedRequest,
): boolean | GovError {
  const record = readJson<MemberAck>(tx, memberAcks, signed.memberId);
  if (!record) {
    return govError(
      403,
      "AuthorizationFailed",
      `No ACK record exists for caller ${signed.memberId}.`,
    );
  }
  let submitted: unknown;
  try {
    const body = JSON.parse(fromUtf8(signed.message.payload));
    submitted = body?.stateDigest ?? body?.state_digest;
  } catch {
    submitted = undefined;
  }
  if (typeof submitted !== "string" || submitted !== record.state_digest) {
    return govError(400, "StateDigestMismatch", "Submitted state digest is not valid.");
  }
  writeJson(tx, memberAcks, signed.memberId, {
    state_digest: record.state_digest,
    cose_sign1_req: Buffer.from(signed.envelope).toString("base64"),
  });
  const member = readMember(tx, signed.memberId);
  if (!member || member.status === "Active") return false;
  writeJson(tx, membersInfo, signed.memberId, { ...member, status: "Active" });
  return true;
}
