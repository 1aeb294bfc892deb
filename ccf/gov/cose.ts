/**
 * COSE_Sign1 messages (RFC 9052) as CCF takes them: governance proposals, ballots and withdrawals
 * signed by a member's key with CCF's `ccf.gov.msg.*` protected headers, and requests signed by a
 * user's key (`user_cose_sign1`). The sandbox verifies with this module and the operator CLI signs
 * with it (also for a real CCF network); it runs on Deno only.
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

/** A decoded COSE_Sign1 governance message. */
export interface CoseSign1 {
  readonly headers: GovHeaders;
  readonly protectedBytes: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** A decoded COSE_Sign1 envelope of any kind: its protected header map and the signed parts. */
export interface CoseEnvelope {
  /** Whether the envelope carries COSE_Sign1's CBOR tag 18, as CCF requires of user requests. */
  readonly tagged: boolean;
  readonly protectedHeaders: ReadonlyMap<unknown, unknown>;
  readonly protectedBytes: Uint8Array;
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
}

/** A signer: a certificate and the EC private key (PEM, SEC1 or PKCS#8) it certifies. */
export interface CoseSigner {
  readonly certPem: string;
  readonly keyPem: string;
}

/** COSE header labels of RFC 9052 that CCF reads. */
export const COSE_ALG = 1;
export const COSE_KID = 4;

const coseTag = 0xd2; // tag 18, COSE_Sign1
const algByCurve: Record<string, { alg: number; hash: string }> = {
  "prime256v1": { alg: -7, hash: "sha256" },
  "secp384r1": { alg: -35, hash: "sha384" },
  "secp521r1": { alg: -36, hash: "sha512" },
};
const hashByAlg = new Map(Object.values(algByCurve).map((a) => [a.alg, a.hash]));

/** Whether `alg` is one of the ECDSA algorithms CCF verifies (ES256, ES384, ES512). */
export const isEcdsaAlg = (alg: number): boolean => hashByAlg.has(alg);

/** The id CCF gives a member or user: hex SHA-256 of the DER of its certificate. */
export const certId = (certPem: string): string =>
  createHash("sha256").update(new Uint8Array(certificateOf(certPem).rawData)).digest("hex");

const sigStructure = (protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array =>
  encode(["Signature1", protectedBytes, new Uint8Array(0), payload]);

/**
 * Signs `payload` as a tagged COSE_Sign1 with the signer's EC key: `alg` (from the key's curve)
 * and `kid` (the signer's id) come first in the protected headers, then `headers` in order.
 */
export const signCoseSign1 = (
  payload: Uint8Array,
  signer: CoseSigner,
  headers: readonly (readonly [number | string, unknown])[],
): Uint8Array<ArrayBuffer> => {
  const key = createPrivateKey(signer.keyPem);
  const curve = key.asymmetricKeyDetails?.namedCurve ?? "";
  const suite = algByCurve[curve];
  if (!suite) {
    throw new Error(
      `signing keys must be EC P-256, P-384 or P-521, not ${curve || key.asymmetricKeyType}`,
    );
  }
  const protectedBytes = encode(
    new Map<number | string, unknown>([
      [COSE_ALG, suite.alg],
      [COSE_KID, new TextEncoder().encode(certId(signer.certPem))],
      ...headers,
    ]),
  );
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

/** Signs `payload` as a governance message of `msgType` with a member's EC key. */
export const signGovMessage = (
  payload: Uint8Array,
  signer: CoseSigner,
  msgType: GovMessageType,
  createdAt: number,
  proposalId?: string,
): Uint8Array<ArrayBuffer> =>
  signCoseSign1(payload, signer, [
    ["ccf.gov.msg.type", msgType],
    ["ccf.gov.msg.created_at", createdAt],
    ...(proposalId === undefined ? [] : [["ccf.gov.msg.proposal_id", proposalId] as const]),
  ]);

/** Decodes a COSE_Sign1 envelope without reading its headers; a string says what is malformed. */
export const decodeCoseSign1 = (bytes: Uint8Array): CoseEnvelope | string => {
  try {
    const tagged = bytes[0] === coseTag;
    const parts = decode(tagged ? bytes.subarray(1) : bytes, {
      useMaps: true,
      rejectDuplicateMapKeys: true,
    });
    if (!Array.isArray(parts) || parts.length !== 4) return "not a COSE_Sign1 array of four items";
    const [protectedBytes, , payload, signature] = parts;
    if (![protectedBytes, payload, signature].every((p) => p instanceof Uint8Array)) {
      return "COSE_Sign1 protected headers, payload and signature must be byte strings";
    }
    const protectedHeaders = decode(protectedBytes, {
      useMaps: true,
      rejectDuplicateMapKeys: true,
    });
    if (!(protectedHeaders instanceof Map)) return "the protected headers are not a map";
    return { tagged, protectedHeaders, protectedBytes, payload, signature };
  } catch (e) {
    return `not valid CBOR: ${(e as Error).message}`;
  }
};

/** Whether `envelope` is signed, with ECDSA algorithm `alg`, by the key of `certPem`. */
export const verifyCoseSign1 = (
  envelope: Pick<CoseEnvelope, "protectedBytes" | "payload" | "signature">,
  alg: number,
  certPem: string,
): boolean => {
  const hash = hashByAlg.get(alg);
  if (hash === undefined) return false;
  try {
    return verify(
      hash,
      sigStructure(envelope.protectedBytes, envelope.payload),
      { key: publicKeyOf(certPem), dsaEncoding: "ieee-p1363" },
      envelope.signature,
    );
  } catch {
    return false;
  }
};

const govHeadersOf = (map: ReadonlyMap<unknown, unknown>): GovHeaders | string => {
  const alg = map.get(COSE_ALG), kid = map.get(COSE_KID), msgType = map.get("ccf.gov.msg.type");
  const createdAt = map.get("ccf.gov.msg.created_at"),
    proposalId = map.get("ccf.gov.msg.proposal_id");
  if (typeof alg !== "number" || !isEcdsaAlg(alg)) {
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
  const envelope = decodeCoseSign1(bytes);
  if (typeof envelope === "string") return envelope;
  const headers = govHeadersOf(envelope.protectedHeaders);
  if (typeof headers === "string") return headers;
  const { protectedBytes, payload, signature } = envelope;
  return { headers, protectedBytes, payload, signature };
};

/** Whether `message` is signed by the key of `certPem` (and that cert is the one its kid names). */
export const verifyGovMessage = (message: CoseSign1, certPem: string): boolean =>
  certId(certPem) === message.headers.kid &&
  verifyCoseSign1(message, message.headers.alg, certPem);
