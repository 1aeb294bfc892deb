/**
 * The ledger secret: where commit evidence comes from and what encrypts private maps on disk.
 *
 * As in CCF, one random secret per ledger yields two independent keys (HMAC-SHA256 of the secret
 * over a distinct label each):
 * - commit evidence `ce:<view>.<seqno>:<hex>` with hex = HMAC-SHA256(evidence key, u64be(seqno)):
 *   only its SHA-256 enters the Merkle leaf, so nobody can produce a transaction's evidence before
 *   the node reveals it in a receipt, that is once the transaction is committed;
 * - AES-256-GCM over the private part of each transaction (maps whose names do not start with
 *   `public:`), with a random 96-bit nonce per transaction and the transaction id as additional
 *   data, so a ciphertext cannot be moved to another entry. A nonce counter would repeat after a
 *   crash drops an unsigned tail and its seqnos are reused; random nonces do not.
 *
 * The secret lives in its own file (mode 0600) next to the ledger file, so that the ledger alone
 * can be copied or published without exposing the private maps.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { base64 } from "@scure/base";

/** Length of the ledger secret and of the keys derived from it. */
const SECRET_SIZE = 32;

const NONCE_SIZE = 12;
const TAG_SIZE = 16;
const encoder = new TextEncoder();

/** Operations keyed by one ledger secret. */
export interface LedgerSecret {
  /** CCF-format commit evidence of the transaction `<view>.<seqno>`. */
  readonly commitEvidence: (view: number, seqno: number) => string;
  /** AES-256-GCM of a transaction's private write set: nonce ‖ ciphertext ‖ tag. */
  readonly seal: (plaintext: Uint8Array, view: number, seqno: number) => Uint8Array;
  /** Inverse of {@link seal}; throws if the blob was altered or belongs to another transaction. */
  readonly open: (sealed: Uint8Array, view: number, seqno: number) => Uint8Array;
}

/** A fresh random ledger secret. */
export const newLedgerSecret = (): Uint8Array =>
  crypto.getRandomValues(new Uint8Array(SECRET_SIZE));

const u64be = (n: number): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
};

const additionalData = (view: number, seqno: number): Uint8Array =>
  encoder.encode(`ccf-sandbox ledger private domain ${view}.${seqno}`);

/** The operations of {@link LedgerSecret} under `secret` (32 bytes). */
export const ledgerSecret = (secret: Uint8Array): LedgerSecret => {
  if (secret.length !== SECRET_SIZE) {
    throw new RangeError(`A ledger secret is ${SECRET_SIZE} bytes, not ${secret.length}`);
  }
  const evidenceKey = hmac(sha256, secret, encoder.encode("ccf-sandbox ledger: commit evidence"));
  const encryptionKey = hmac(sha256, secret, encoder.encode("ccf-sandbox ledger: private maps"));
  // Keyed once; each evidence then costs two compressions instead of four.
  const keyed = hmac.create(sha256, evidenceKey);
  return {
    commitEvidence: (view, seqno) =>
      `ce:${view}.${seqno}:${bytesToHex(keyed.clone().update(u64be(seqno)).digest())}`,
    seal: (plaintext, view, seqno) => {
      const nonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
      const cipher = createCipheriv("aes-256-gcm", encryptionKey, nonce);
      cipher.setAAD(additionalData(view, seqno));
      const body = cipher.update(plaintext);
      const tail = cipher.final();
      const out = new Uint8Array(NONCE_SIZE + body.length + tail.length + TAG_SIZE);
      out.set(nonce, 0);
      out.set(body, NONCE_SIZE);
      out.set(tail, NONCE_SIZE + body.length);
      out.set(cipher.getAuthTag(), out.length - TAG_SIZE);
      return out;
    },
    open: (sealed, view, seqno) => {
      if (sealed.length < NONCE_SIZE + TAG_SIZE) throw new Error("The sealed blob is too short");
      const decipher = createDecipheriv(
        "aes-256-gcm",
        encryptionKey,
        sealed.subarray(0, NONCE_SIZE),
      );
      decipher.setAAD(additionalData(view, seqno));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
      const body = decipher.update(sealed.subarray(NONCE_SIZE, sealed.length - TAG_SIZE));
      const tail = decipher.final();
      const out = new Uint8Array(body.length + tail.length);
      out.set(body, 0);
      out.set(tail, body.length);
      return out;
    },
  };
};

interface SecretFile {
  readonly version: 1;
  readonly ledger_secret: string;
}

/**
 * Writes a new secret to `path`, which must not exist, readable by its owner only, and flushes
 * it: the ledger's first entry must never reach the disk before the key that decrypts it.
 */
export const createSecretFile = (path: string): Uint8Array => {
  const secret = newLedgerSecret();
  const body: SecretFile = { version: 1, ledger_secret: base64.encode(secret) };
  const file = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
  try {
    // The mode given to open is filtered by the umask; set it outright.
    if (Deno.build.os !== "windows") Deno.chmodSync(path, 0o600);
    const bytes = encoder.encode(JSON.stringify(body) + "\n");
    for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
    file.syncSync();
  } finally {
    file.close();
  }
  return secret;
};

/** Reads the secret at `path`; refuses a file that others than its owner may read. */
export const readSecretFile = (path: string): Uint8Array => {
  const mode = Deno.statSync(path).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new Error(
      `The ledger secret ${path} is accessible to other users (mode ` +
        `${(mode & 0o777).toString(8)}); run 'chmod 600' on it before starting the node`,
    );
  }
  let secret: Uint8Array | undefined;
  try {
    const body = JSON.parse(Deno.readTextFileSync(path)) as Partial<SecretFile>;
    if (body.version === 1 && typeof body.ledger_secret === "string") {
      secret = base64.decode(body.ledger_secret);
    }
  } catch {
    secret = undefined;
  }
  if (secret?.length !== SECRET_SIZE) {
    throw new Error(`The ledger secret ${path} is not a version 1 ledger secret file`);
  }
  return secret;
};
