/**
 * COSE_Sign1 governance messages (RFC 9052) as CCF takes them: proposals, ballots and withdrawals
 * signed by a member's key, with CCF's protected headers. Both the sandbox (which verifies) and the
 * operator CLI (which signs, also for a real CCF network) use this module; it runs on Deno only.
 */
import { createHash, createPrivateKey, sign, verify } from "node:crypto";
import { certificateOf, publicKeyOf } from "./x509.ts";
import { decode, encode } from "cborg";

const govMessageTypes = ["proposal", "ballot", "withdrawal", "ack", "state_digest"] as const;

/** The kinds of governance message CCF accepts. */
export type GovMessageType = (typeof govMessageTypes)[number];

/** The protected headers of a governance message. */
export interface GovHeaders {
  readonly alg: number;
  /** The signer's id: hex SHA-256 of its certificate's DER. */
  readonly kid: string;
  readonly msgType: GovMessageType;
  /** Seconds since the Unix epoch. */
  readonly createdAt: number;
  readonly proposalId?: string;
}

/** A decoded COSE_Sign1 message. */
export interface CoseSign1 {
  readonly headers: GovHeaders;
  readonly protectedBytes: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

const coseTag = 0xd2; // tag 18, COSE_Sign1
const algByCurve: Record<string, { alg: number; hash: string }> = {
  "prime256v1": { alg: -7, hash: "sha256" },
  "secp384r1": { alg: -35, hash: "sha384" },
  "secp521r1": { alg: -36, hash: "sha512" },
};
const hashByAlg = new Map(Object.values(algByCurve).map((a) => [a.alg, a.hash]));

/** The id CCF gives a member or user: hex SHA-256 of the DER of its certificate. */
export const certId = (certPem: string): string =>
  createHash("sha256").update(new Uint8Array(certificateOf(certPem).rawData)).digest("hex");

const sigStructure = (protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array =>
  encode(["Signature1", protectedBytes, new Uint8Array(0), payload]);

/** Signs `payload` as a governance message of `msgType` with a member's EC key (PEM, SEC1 or PKCS#8). */
export const signGovMessage = (
  payload: Uint8Array,
  signer: { certPem: string; keyPem: string },
  msgType: GovMessageType,
  createdAt: number,
  proposalId?: string,
): Uint8Array<ArrayBuffer> => {
  const key = createPrivateKey(signer.keyPem);
  const curve = key.asymmetricKeyDetails?.namedCurve ?? "";
  const suite = algByCurve[curve];
  if (!suite) {
    throw new Error(
      `member keys must be EC P-256, P-384 or P-521, not ${curve || key.asymmetricKeyType}`,
    );
  }
  const headers = new Map<number | string, unknown>([
    [1, suite.alg],
    [4, new TextEncoder().encode(certId(signer.certPem))],
    ["ccf.gov.msg.type", msgType],
    ["ccf.gov.msg.created_at", createdAt],
    ...(proposalId === undefined ? [] : [["ccf.gov.msg.proposal_id", proposalId] as const]),
  ]);
  const protectedBytes = encode(headers);
  const signature = sign(suite.hash, sigStructure(protectedBytes, payload), {
    key,
    dsaEncoding: "ieee-p1363",
  });
  const body = encode([protectedBytes, new Map(), payload, new Uint8Array(signature)]);
  // Copied, not spread: spreading a large proposal (a bundle) as arguments overflows the stack.
  const message = new Uint8Array(1 + body.length);
  message[0] = coseTag;
  message.set(body, 1);
  return message;
};

const headersOf = (map: Map<unknown, unknown>): GovHeaders | string => {
  const alg = map.get(1), kid = map.get(4), msgType = map.get("ccf.gov.msg.type");
  const createdAt = map.get("ccf.gov.msg.created_at"),
    proposalId = map.get("ccf.gov.msg.proposal_id");
  if (typeof alg !== "number" || !hashByAlg.has(alg)) {
    return "the alg header must be ES256, ES384 or ES512";
  }
  if (!(kid instanceof Uint8Array)) return "the kid header must be a byte string (the signer's id)";
  if (!(govMessageTypes as readonly unknown[]).includes(msgType)) {
    return "the ccf.gov.msg.type header is missing or unknown";
  }
  if (typeof createdAt !== "number" || !Number.isInteger(createdAt) || createdAt < 0) {
    return "the ccf.gov.msg.created_at header must be a non-negative integer (seconds)";
  }
  if (proposalId !== undefined && typeof proposalId !== "string") {
    return "ccf.gov.msg.proposal_id must be a string";
  }
  return {
    alg,
    kid: new TextDecoder().decode(kid),
    msgType: msgType as GovMessageType,
    createdAt,
    ...(proposalId === undefined ? {} : { proposalId: proposalId as string }),
  };
};

/** Decodes a COSE_Sign1 governance message; a string says what is malformed. */
export const parseGovMessage = (bytes: Uint8Array): CoseSign1 | string => {
  try {
    const body = bytes[0] === coseTag ? bytes.subarray(1) : bytes;
    const parts = decode(body, { useMaps: true, rejectDuplicateMapKeys: true });
    if (!Array.isArray(parts) || parts.length !== 4) return "not a COSE_Sign1 array of four items";
    const [protectedBytes, , payload, signature] = parts;
    if (![protectedBytes, payload, signature].every((p) => p instanceof Uint8Array)) {
      return "COSE_Sign1 protected headers, payload and signature must be byte strings";
    }
    const map = decode(protectedBytes, { useMaps: true, rejectDuplicateMapKeys: true });
    const headers = map instanceof Map ? headersOf(map) : "the protected headers are not a map";
    return typeof headers === "string" ? headers : { headers, protectedBytes, payload, signature };
  } catch (e) {
    return `not valid CBOR: ${(e as Error).message}`;
  }
};

/** Whether `message` is signed by the key of `certPem` (and that cert is the one its kid names). */
export const verifyGovMessage = (message: CoseSign1, certPem: string): boolean => {
  if (certId(certPem) !== message.headers.kid) return false;
  try {
    return verify(
      hashByAlg.get(message.headers.alg)!,
      sigStructure(message.protectedBytes, message.payload),
      { key: publicKeyOf(certPem), dsaEncoding: "ieee-p1363" },
      message.signature,
    );
  } catch {
    return false;
  }
};
