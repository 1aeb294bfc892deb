/**
 * CCF's `user_cose_sign1` authentication: the request body is a tagged COSE_Sign1
 * (`Content-Type: application/cose`) whose `kid` names a user (hex SHA-256 of the user
 * certificate's DER) and whose signature that user's key made with ES256, ES384 or ES512. The
 * optional `ccf.msg.type` and `ccf.msg.created_at` headers are checked for type only; replay
 * protection is left to the app, as in CCF.
 *
 * CCF fails the whole request with a 500 when the envelope or a header cannot be decoded (its
 * decoder throws out of the policy), and refuses it with the policy's 401 otherwise.
 */
import {
  COSE_ALG,
  COSE_KID,
  decodeCoseSign1,
  isEcdsaAlg,
  verifyCoseSign1,
} from "../../gov/cose.ts";
import { usersCerts } from "../govTables.ts";
import { fromUtf8, type KvLookup } from "./types.ts";

/** What a verified request tells the app about its signer. */
export interface UserCoseIdentity {
  /** The user id (`kid`). */
  readonly id: string;
  /** The user certificate, PEM, as registered. */
  readonly certPem: string;
  /** The signed payload. */
  readonly content: Uint8Array;
}

/** The signer, CCF's refusal reason, or the message of a decoding failure. */
export type UserCoseOutcome =
  | { readonly kind: "accepted"; readonly identity: UserCoseIdentity }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "fault"; readonly message: string };

/** CCF's challenge for COSE-signed requests. */
export const COSE_CHALLENGE = 'COSE-SIGN1 realm="Signed request access"';

const MSG_TYPE = "ccf.msg.type";
const MSG_CREATED_AT = "ccf.msg.created_at";

const refused = (reason: string): UserCoseOutcome => ({ kind: "refused", reason });
const fault = (message: string): UserCoseOutcome => ({ kind: "fault", message });

const isInteger = (v: unknown): v is number | bigint =>
  typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v));

/** The first header CCF could not decode, as `<what>: <why>`, or `undefined`. */
const headerFault = (headers: ReadonlyMap<unknown, unknown>): string | undefined => {
  const alg = headers.get(COSE_ALG);
  if (!isInteger(alg)) {
    return `Parse alg in protected header: ${alg === undefined ? "missing" : "not an integer"}`;
  }
  const kid = headers.get(COSE_KID);
  if (!(kid instanceof Uint8Array)) {
    return `Parse kid in protected header: ${kid === undefined ? "missing" : "not a byte string"}`;
  }
  const msgType = headers.get(MSG_TYPE);
  if (msgType !== undefined && typeof msgType !== "string") {
    return `Parse msg type in protected header: ${MSG_TYPE} is not a text string`;
  }
  const createdAt = headers.get(MSG_CREATED_AT);
  if (createdAt !== undefined && (!isInteger(createdAt) || createdAt < 0)) {
    return `Parse created_at in protected header: ${MSG_CREATED_AT} must be a non-negative integer`;
  }
  return undefined;
};

/** Authenticates a request as CCF's `user_cose_sign1` policy does. */
export function authenticateUserCose(
  headers: Readonly<Record<string, string>>,
  body: Uint8Array,
  kv: KvLookup,
): UserCoseOutcome {
  const contentType = headers["content-type"];
  if (contentType === undefined) return refused("Missing content-type header");
  if (contentType !== "application/cose") {
    return refused("Content type is not set to application/cose");
  }
  const envelope = decodeCoseSign1(body);
  if (typeof envelope === "string") return fault(`Parse COSE CBOR: ${envelope}`);
  if (!envelope.tagged) return fault("Parse COSE tag: the COSE_Sign1 is not tagged (18)");
  const bad = headerFault(envelope.protectedHeaders);
  if (bad !== undefined) return fault(bad);
  const rawAlg = envelope.protectedHeaders.get(COSE_ALG) as number | bigint;
  const alg = Number(rawAlg);
  if (!isEcdsaAlg(alg)) return refused(`Unsupported algorithm: ${rawAlg}`);
  const id = fromUtf8(envelope.protectedHeaders.get(COSE_KID) as Uint8Array);
  const cert = kv(usersCerts, id);
  if (cert === undefined) return refused("Signer is not a known user");
  const certPem = fromUtf8(cert);
  if (!verifyCoseSign1(envelope, alg, certPem)) return refused("Failed to validate COSE Sign1");
  return { kind: "accepted", identity: { id, certPem, content: envelope.payload } };
}
