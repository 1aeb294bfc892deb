/**
 * The demo's stand-in for a confidential VM's TPM: the RSA-2048 key that MAA puts in the token as
 * `x-ms-runtime.keys[kid=TpmEphemeralEncryptionKey]` and that the KMS wraps released keys to.
 *
 * A real TPM never lets the private half out; here it lives in the demo workspace as a PKCS#8 PEM
 * file readable by its owner only, so that the demo issuer (which puts the public half in tokens)
 * and the demo gateway (which unwraps) can run as separate processes and survive restarts.
 *
 * The PEM persistence is shared with the issuer's signing key, hence the generic
 * {@link loadRsaKeyPair}.
 */
import { base64, base64urlnopad } from "@scure/base";
import { join } from "node:path";
import { type RsaPublicJwk, wrappingKeyId } from "../../../core/attestation/wrappingKey.ts";

/** The workspace subdirectory that holds the demo issuer's and the demo TPM's key files. */
export const DEMO_KEYS_DIR = "idp";
/** RSA modulus size of the TPM key: the size of the real TPM's ephemeral encryption key. */
export const TPM_KEY_BITS = 2048;

/** Where an RSA key pair is kept. */
export interface RsaKeyFiles {
  /** PKCS#8 PEM (`PRIVATE KEY`), the source of truth: the public half is derived from it. */
  readonly privateKeyPath: string;
  /** SPKI PEM (`PUBLIC KEY`), written for people and other tools. */
  readonly publicKeyPath: string;
}

/** A persisted RSA key pair: the private key's PKCS#8 DER and the public key. */
export interface RsaKeyPair {
  readonly pkcs8: Uint8Array<ArrayBuffer>;
  readonly spki: Uint8Array<ArrayBuffer>;
  /** The public key as a bare JWK (`kty`, `n`, `e` only). */
  readonly publicJwk: RsaPublicJwk;
}

/** The TPM key's public half exactly as MAA presents it in `x-ms-runtime.keys`. */
export interface TpmPublicJwk extends RsaPublicJwk {
  /** The id MAA gives the TPM's ephemeral encryption key: `TpmEphemeralEncryptionKey`. */
  readonly kid: "TpmEphemeralEncryptionKey";
  /** What the key is for. */
  readonly key_ops: ["encrypt"];
}

/** The demo TPM: its public key for tokens, and decryption of what the KMS wrapped to it. */
export interface TpmKey {
  /** The public key as MAA presents it in tokens. */
  readonly publicJwk: TpmPublicJwk;
  /**
   * Decrypts a released key: `base64Ciphertext` is base64 STANDARD of RSAES-OAEP (SHA-256,
   * MGF1-SHA-256, empty label), as in the KMS's `key` field. Rejects on malformed base64 or a
   * ciphertext that does not decrypt under this key.
   */
  unwrap(base64Ciphertext: string): Promise<Uint8Array>;
}

/** Where {@link loadTpmKey} keeps the TPM key in a workspace. */
export const tpmKeyFiles = (workspace: string): RsaKeyFiles => ({
  privateKeyPath: join(workspace, DEMO_KEYS_DIR, "tpm_privk.pem"),
  publicKeyPath: join(workspace, DEMO_KEYS_DIR, "tpm_pubk.pem"),
});

/**
 * Loads the demo TPM key of a workspace, creating a `bits`-bit one on first use (the core takes
 * 2048 to 8192). Every process that loads the same workspace gets the same key, even when several
 * create it at once; an existing key is kept whatever its size.
 */
export async function loadTpmKey(workspace: string, bits = TPM_KEY_BITS): Promise<TpmKey> {
  const pair = await loadRsaKeyPair(tpmKeyFiles(workspace), bits);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    pair.pkcs8,
    { name: "RSA-OAEP", hash: "SHA-256" },
    false,
    ["decrypt"],
  );
  const publicJwk: TpmPublicJwk = {
    kty: "RSA",
    n: pair.publicJwk.n,
    e: pair.publicJwk.e,
    kid: wrappingKeyId,
    key_ops: ["encrypt"],
  };
  const modulusBytes = base64urlnopad.decode(publicJwk.n).length;
  return {
    publicJwk,
    unwrap: async (base64Ciphertext) => {
      let ciphertext: Uint8Array<ArrayBuffer>;
      try {
        ciphertext = Uint8Array.from(base64.decode(base64Ciphertext.trim()));
      } catch {
        throw new Error("the wrapped key is not base64 (standard alphabet, padded)");
      }
      try {
        // WebCrypto's RSA-OAEP uses MGF1 with the same hash and an empty label unless one is
        // given, which is what the real TPM does.
        return new Uint8Array(
          await crypto.subtle.decrypt({ name: "RSA-OAEP" }, privateKey, ciphertext),
        );
      } catch {
        // The WebCrypto error says nothing useful and the ciphertext must not end up in logs.
        throw new Error(
          `the wrapped key does not decrypt with the TPM key (${ciphertext.length} bytes, ` +
            `expected ${modulusBytes})`,
        );
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// RSA key pairs as PEM files

const PRIVATE_KEY_LABEL = "PRIVATE KEY";
const PUBLIC_KEY_LABEL = "PUBLIC KEY";
// Only the owner may read key files; the directory is kept private as well.
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
// An RSA algorithm is needed to import PKCS#8 into WebCrypto, but the DER says rsaEncryption
// whatever it is, so any RSA algorithm works for generating and inspecting.
const INSPECT_ALGORITHM: RsaHashedImportParams = { name: "RSA-OAEP", hash: "SHA-256" };

/**
 * Loads the RSA key pair kept at `files`, generating a `bits`-bit one first if there is none.
 *
 * Creation is atomic (a temporary file hard-linked into place), so two processes that start at
 * once agree on one key and never read a half-written file. An existing private key is kept
 * whatever its size; its file mode is tightened to 0600, and the public key file is rewritten
 * when it is missing or does not match the private key.
 */
export async function loadRsaKeyPair(files: RsaKeyFiles, bits: number): Promise<RsaKeyPair> {
  await Deno.mkdir(dirOf(files.privateKeyPath), { recursive: true, mode: DIR_MODE });
  let pkcs8 = await readPemIfPresent(files.privateKeyPath, PRIVATE_KEY_LABEL);
  if (pkcs8 === undefined) {
    const created = await generatePkcs8(bits);
    const won = await createIfAbsent(files.privateKeyPath, encodePem(PRIVATE_KEY_LABEL, created));
    pkcs8 = won ? created : await readPemIfPresent(files.privateKeyPath, PRIVATE_KEY_LABEL);
    if (pkcs8 === undefined) {
      throw new Error(`the key file ${files.privateKeyPath} vanished while being created`);
    }
  } else {
    await restrictMode(files.privateKeyPath);
  }
  const pair = await publicHalf(pkcs8, files.privateKeyPath);
  await writeIfChanged(files.publicKeyPath, encodePem(PUBLIC_KEY_LABEL, pair.spki));
  return pair;
}

const generatePkcs8 = async (bits: number): Promise<Uint8Array<ArrayBuffer>> => {
  const pair = await crypto.subtle.generateKey(
    { ...INSPECT_ALGORITHM, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) },
    true,
    ["encrypt", "decrypt"],
  );
  return new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
};

const publicHalf = async (
  pkcs8: Uint8Array<ArrayBuffer>,
  path: string,
): Promise<RsaKeyPair> => {
  let jwk: JsonWebKey;
  try {
    const key = await crypto.subtle.importKey("pkcs8", pkcs8, INSPECT_ALGORITHM, true, [
      "decrypt",
    ]);
    jwk = await crypto.subtle.exportKey("jwk", key);
  } catch {
    throw new Error(`${path} does not hold an RSA private key (PKCS#8)`);
  }
  if (jwk.kty !== "RSA" || jwk.n === undefined || jwk.e === undefined) {
    throw new Error(`${path} does not hold an RSA private key (PKCS#8)`);
  }
  const publicJwk: RsaPublicJwk = { kty: "RSA", n: jwk.n, e: jwk.e };
  const publicKey = await crypto.subtle.importKey("jwk", publicJwk, INSPECT_ALGORITHM, true, [
    "encrypt",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  return { pkcs8, spki, publicJwk };
};

/** PEM with 64-character lines, as OpenSSL writes it. */
export const encodePem = (label: string, der: Uint8Array): string => {
  const body = base64.encode(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${body.join("\n")}\n-----END ${label}-----\n`;
};

/** The DER inside the first PEM block with this label; throws if there is none. */
export const decodePem = (label: string, pem: string): Uint8Array<ArrayBuffer> => {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const start = pem.indexOf(begin);
  const stop = pem.indexOf(end, start + begin.length);
  if (start < 0 || stop < 0) throw new Error(`no PEM block labelled ${label}`);
  try {
    return Uint8Array.from(base64.decode(pem.slice(start + begin.length, stop).replace(/\s/g, "")));
  } catch {
    throw new Error(`the PEM block labelled ${label} is not base64`);
  }
};

const readPemIfPresent = async (
  path: string,
  label: string,
): Promise<Uint8Array<ArrayBuffer> | undefined> => {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    return decodePem(label, text);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
};

/** Writes `text` to `path` unless the file exists; tells whether this call wrote it. */
const createIfAbsent = async (path: string, text: string): Promise<boolean> => {
  const temporary = await writeTemporary(path, text);
  try {
    await Deno.link(temporary, path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  } finally {
    await Deno.remove(temporary);
  }
};

/**
 * Writes `text` to `path` readable by its owner only, unless the file holds it already. The file
 * is replaced in one step, so a concurrent reader sees the old or the new one.
 */
export const writeIfChanged = async (path: string, text: string): Promise<void> => {
  try {
    if (await Deno.readTextFile(path) === text) return await restrictMode(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.rename(await writeTemporary(path, text), path);
};

const writeTemporary = async (path: string, text: string): Promise<string> => {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temporary, text, { createNew: true, mode: FILE_MODE });
  // The mode given at creation is filtered by the umask; set it exactly.
  await restrictMode(temporary);
  return temporary;
};

const restrictMode = async (path: string): Promise<void> => {
  if (Deno.build.os !== "windows") await Deno.chmod(path, FILE_MODE);
};

const dirOf = (path: string): string => join(path, "..");
