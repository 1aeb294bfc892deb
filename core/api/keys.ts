/**
 * The key decisions of the KMS endpoints that the CCF shell carries out: what a new key publishes,
 * what a released key contains, and which key a token may have.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { base64, base64urlnopad } from "@scure/base";
import { sha256 } from "@noble/hashes/sha2.js";
import * as t from "io-ts";
import { concat, fromHex, toHex, utf8 } from "../bytes.ts";
import { gather } from "../either.ts";
import { internal, keyNotFound, type KmsError } from "../errors.ts";
import { encodePrivateKeyCbor, p384PrivateKey } from "../keys/privateKeyCbor.ts";
import { type KeyRecord, keyState, type PublishedKey, StoredPrivateKey } from "../keys/record.ts";
import { keyConfigToHex, p384KeyConfig } from "../ohttp/keyConfig.ts";

const P384Jwk = t.type({
  crv: t.literal("P-384"),
  d: t.string,
  x: t.string,
  y: t.string,
});

/** What the shell writes for a new key: public record, private part and the receipt's claim. */
export interface NewKey {
  readonly published: PublishedKey;
  readonly privateKey: StoredPrivateKey;
  /** SHA-256 of the ASCII KeyConfig hex: the claims digest its receipt binds the key to. */
  readonly claimsDigest: Uint8Array;
}

/** The claims digest of a published KeyConfig hex string (what a client checks in its receipt). */
export const claimsDigestOf = (publicKeyHex: string): Uint8Array => sha256(utf8(publicKeyHex));

type Point = { readonly d: string; readonly x: string; readonly y: string };

const decodePoint = (
  k: Point,
  decode: (s: string) => E.Either<KmsError, Uint8Array>,
): E.Either<KmsError, { readonly d: Uint8Array; readonly x: Uint8Array; readonly y: Uint8Array }> =>
  gather({ d: decode(k.d), x: decode(k.x), y: decode(k.y) });

const fromB64url = (s: string): E.Either<KmsError, Uint8Array> =>
  E.tryCatch(
    () => base64urlnopad.decode(s),
    () => internal("the generated key is not base64url"),
  );

/**
 * Builds a new key's records from the planner's record and the JWK of the P-384 key pair the TEE
 * generated. A malformed JWK is a fault of the platform, hence `Internal`.
 */
export const newKey = (
  record: KeyRecord,
  jwk: unknown,
): E.Either<KmsError, NewKey> =>
  pipe(
    P384Jwk.decode(jwk),
    E.mapLeft(() => internal("the generated key pair is not a P-384 JWK")),
    E.flatMap((k) => decodePoint(k, fromB64url)),
    E.flatMap(({ d, x, y }) =>
      pipe(
        p384KeyConfig(record.keyId, concat(Uint8Array.of(4), x, y)),
        E.map(keyConfigToHex),
        E.map((publicKey) => ({
          published: { ...record, publicKey },
          privateKey: { d: toHex(d), x: toHex(x), y: toHex(y) },
          claimsDigest: claimsDigestOf(publicKey),
        })),
      )
    ),
  );

/** The CBOR plaintext released for a key (before wrapping to the VM's TPM key). */
export const releasePlaintext = (
  key: KeyRecord,
  stored: unknown,
): E.Either<KmsError, Uint8Array> =>
  pipe(
    StoredPrivateKey.decode(stored),
    E.mapLeft(() => internal(`the private part of key ${key.index} is missing or corrupt`)),
    E.flatMap((s) => decodePoint(s, (h) => fromHex(h, "private key"))),
    E.flatMap((p) => p384PrivateKey({ kid: key.keyId, ...p })),
    E.map(encodePrivateKeyCbor),
  );

/** Standard base64 (with padding), as the OHTTP server decodes the wrapped key. */
export const toBase64 = (bytes: Uint8Array): string => base64.encode(bytes);

/**
 * The most keys `/listpubkeys` lists. The listing is on the path of every prompt (the real OHTTP
 * client fetches it for each client it builds and encrypts to the last key only), and each key
 * adds about 2 KB and a receipt check. One is what a client uses; the second, the active key
 * before it, is what the listing answers with while the newest one's receipt is pending after a
 * refresh, so that it keeps answering 200. Rotation leaves one key active at a time; more are
 * active only after refreshes that were not due, and those stay releasable by id.
 */
export const maxListedKeys = 2;

/**
 * The keys `/listpubkeys` advertises at `now`, oldest first: the keys a client may still encrypt
 * to, i.e. the active ones (at most {@link maxListedKeys}, the newest). A key in its grace period
 * is no longer advertised, but gateways can still fetch it by id for prompts already encrypted to
 * it; only while no key is active (rotation overdue) is the newest one in grace listed, so that
 * clients keep working. `ring` is in index order (see `KeyRing`): the walk starts at the newest
 * key and usually stops after a few, where filtering and sorting all 256 cost QuickJS ~0.15 ms.
 */
export const listedKeys = <K extends KeyRecord>(ring: readonly K[], now: number): K[] => {
  const active: K[] = [];
  let newestInGrace: K | undefined;
  for (let i = ring.length - 1; i >= 0 && active.length < maxListedKeys; i--) {
    const state = keyState(ring[i], now);
    if (state === "active") active.unshift(ring[i]);
    else if (state === "grace") newestInGrace ??= ring[i];
  }
  return active.length > 0 ? active : newestInGrace ? [newestInGrace] : [];
};

/**
 * The `/listpubkeys` answer from each listed key's receipt lookup (oldest first): the keys whose
 * receipt exists, newest last, since a key is advertised only once its receipt proves it. With none
 * ready, the newest key's refusal (`ReceiptNotReady`: 202); with no key at all, 404, because the
 * real OHTTP client panics on an empty 200.
 */
export const keyListing = <A>(
  lookups: readonly E.Either<KmsError, A>[],
): E.Either<KmsError, A[]> => {
  if (lookups.length === 0) {
    return E.left(keyNotFound(
      "no key can be released (none exists, or all expired): create one with /refresh",
    ));
  }
  const ready = lookups.flatMap((r) => (E.isRight(r) ? [r.right] : []));
  return ready.length > 0 ? E.right(ready) : (lookups[lookups.length - 1] as E.Left<KmsError>);
};
