/**
 * The KMS client for OHTTP clients and gateways: lists public keys whose receipts verify against a
 * pinned service certificate (failing closed), and releases private keys with an attestation token,
 * unwrapping them through a caller-given capability (a software key in the demo, the TPM in
 * production) and checking them against the published KeyConfig.
 */
import { p384 } from "@noble/curves/nist.js";
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import * as TE from "fp-ts/lib/TaskEither.js";
import * as t from "io-ts";
import { equal, fromHex } from "../../core/bytes.ts";
import { decodeWith } from "../../core/codec.ts";
import {
  internal,
  invalidInput,
  invalidReceipt,
  type KmsError,
  type KmsErrorCode,
  receiptNotReady,
} from "../../core/errors.ts";
import { decodePrivateKeyCbor, type P384PrivateKey } from "../../core/keys/privateKeyCbor.ts";
import { decodeKeyConfig, type KeyConfig } from "../../core/ohttp/keyConfig.ts";
import type { VerifiedReceipt } from "../../core/receipt/verify.ts";
import type { Either } from "../../core/either.ts";
import { receiptVerifier } from "./receiptVerifier.ts";

/** A public key the KMS published, whose receipt verified. */
export interface PublishedKeyConfig {
  /** The OHTTP key id, 0..255 (also `config.keyId`). */
  readonly keyId: number;
  /** The decoded KeyConfig, to encapsulate requests with. */
  readonly config: KeyConfig;
  /** The KeyConfig as the KMS published it: lowercase hex, also the receipt's claim. */
  readonly publicKey: string;
  /** The CCF receipt that commits to `publicKey`, verified against the pinned service cert. */
  readonly receipt: VerifiedReceipt;
}

/** A private key released to this caller, checked against its published KeyConfig. */
export interface ReleasedKey extends PublishedKeyConfig {
  /** The unwrapped private key; its kid and public point match `config`. Never log it. */
  readonly privateKey: P384PrivateKey;
}

/** Options of {@link createKmsClient}. */
export interface KmsClientOptions {
  /** The service root, e.g. `https://127.0.0.1:8000` (no `/app`). */
  readonly url: string;
  /** The KMS's service certificate (PEM), obtained out of band: TLS root and receipt endorser. */
  readonly serviceCertPem: string;
  /**
   * How long in all, in seconds, to keep asking again for an answer that can still come (default
   * 30): a 202 (the receipt is not signed yet, or the node that answered is still fetching it from
   * its ledger: seconds on a cold node), a released key that the node answering `/pubkey` does not
   * know yet (a backup behind the primary), a node that cannot be reached (failing over). The real
   * OHTTP peers give up after 3 retries of at most 5 s.
   */
  readonly retryForSeconds?: number;
  /** Longest single wait honoured from `retry-after`, in seconds (default 5). */
  readonly maxRetryAfterSeconds?: number;
}

/** What {@link KmsClient.releaseKey} needs. */
export interface ReleaseKeyRequest {
  /** OHTTP key id; the newest key when absent. */
  readonly kid?: number;
  /** The attestation token (MAA JWT). */
  readonly token: string;
  /** Decrypts the wrapped key (standard base64 of RSA-OAEP-SHA256 ciphertext) with the TPM key. */
  readonly unwrap: (wrappedBase64: string) => Promise<Uint8Array>;
}

/** A KMS client bound to one service. */
export interface KmsClient {
  /**
   * The keys to encrypt to, as `/listpubkeys` advertises them, newest last; fails if any receipt
   * does not verify.
   */
  listKeys(): Promise<Either<KmsError, PublishedKeyConfig[]>>;
  /**
   * Releases, unwraps and checks a private key: it must be the key `/pubkey` serves for its id,
   * whose receipt verifies (a key in its grace period is no longer listed, but still served).
   */
  releaseKey(request: ReleaseKeyRequest): Promise<Either<KmsError, ReleasedKey>>;
  /** Closes the HTTP client. */
  close(): void;
}

const ListedKey = t.type({ publicKey: t.string, receipt: t.string });
type ListedKey = t.TypeOf<typeof ListedKey>;
const ReleaseBody = t.type({ kid: t.number, key: t.string, receipt: t.string });
const ErrorBody = t.type({ error: t.type({ code: t.string, message: t.string }) });

const knownCodes: readonly KmsErrorCode[] = [
  "InvalidInput",
  "Unauthenticated",
  "Forbidden",
  "PolicyDenied",
  "KeyNotFound",
  "KeyExpired",
  "KeyIdsExhausted",
];

/** The KMS's error, as it reported it; anything unexpected is a fault of the service. */
const errorFrom = async (response: Response): Promise<KmsError> => {
  const body = await response.json().catch(() => undefined);
  if (!ErrorBody.is(body)) {
    return internal(`the KMS answered ${response.status} without an error body`);
  }
  const code = body.error.code as KmsErrorCode;
  if (code === "PolicyDenied") {
    const details = (body.error as { details?: unknown }).details;
    return {
      _tag: code,
      message: body.error.message,
      failures: Array.isArray(details) ? details : [],
    };
  }
  return knownCodes.includes(code)
    ? { _tag: code, message: body.error.message } as KmsError
    : internal(`the KMS answered ${response.status}: ${body.error.message}`);
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An error that may pass if the request is sent again after `waitMs`. */
interface Later {
  readonly _tag: "Later";
  readonly error: KmsError;
  readonly waitMs: number;
}

const later = (error: KmsError, waitMs = 1000): Later => ({ _tag: "Later", error, waitMs });

const isLater = (e: KmsError | Later): e is Later => e._tag === "Later";

const publicPoint = (k: P384PrivateKey): Uint8Array => p384.getPublicKey(k.d, false);

/**
 * A client for the KMS at `options.url`. Keys are trusted only through receipts that verify against
 * `options.serviceCertPem`; for TLS, Deno adds that certificate to the system's roots rather than
 * replacing them, so the receipt check, not TLS, is what pins the service.
 */
export const createKmsClient = (options: KmsClientOptions): KmsClient => {
  const http = Deno.createHttpClient({ caCerts: [options.serviceCertPem] });
  const receipts = receiptVerifier(options.serviceCertPem);
  // The keys of the last listing, by KeyConfig and receipt: a listing verifies only what is new.
  // Rebuilt from each listing, so that it never holds more than the KMS lists.
  let verified = new Map<string, PublishedKeyConfig>();
  const retryFor = 1000 * (options.retryForSeconds ?? 30);
  const maxWait = 1000 * (options.maxRetryAfterSeconds ?? 5);
  const base = options.url.replace(/\/+$/, "");

  /** One request: the JSON body of a 200, an error, or an error that may pass (`Later`). */
  const attempt = async (
    path: string,
    init: RequestInit,
    transient: (e: KmsError) => boolean,
  ): Promise<E.Either<KmsError | Later, unknown>> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, { ...init, client: http });
    } catch (e) {
      return E.left(
        later(internal(`the KMS at ${base} cannot be reached: ${(e as Error).message}`)),
      );
    }
    if (response.status === 200) {
      return await response.json().then(
        (body: unknown) => E.right(body),
        () => E.left(internal(`the KMS answered ${path} with a body that is not JSON`)),
      );
    }
    if (response.status === 202) {
      await response.body?.cancel();
      const after = Number(response.headers.get("retry-after") ?? "1");
      return E.left(later(
        receiptNotReady(`the KMS has no receipt for ${path} yet`),
        Number.isFinite(after) && after >= 0 ? 1000 * after : 1000,
      ));
    }
    const error = await errorFrom(response);
    return E.left(transient(error) ? later(error) : error);
  };

  /**
   * Sends a request and gives the JSON body of a 200, asking again while the answer may still
   * come (see `retryForSeconds`): after a 202, an unreachable KMS, or an error `transient` names.
   */
  const call = (
    path: string,
    init: RequestInit = {},
    transient: (e: KmsError) => boolean = () => false,
  ): TE.TaskEither<KmsError, unknown> =>
  async () => {
    const deadline = Date.now() + retryFor;
    for (;;) {
      const result = await attempt(path, init, transient);
      if (E.isRight(result) || !isLater(result.left)) return result as E.Either<KmsError, unknown>;
      const wait = Math.min(result.left.waitMs, maxWait);
      if (Date.now() + wait > deadline) {
        const { error } = result.left;
        return E.left({ ...error, message: `${error.message} (still after ${retryFor / 1000} s)` });
      }
      await sleep(wait);
    }
  };

  const verify = (receipt: string, claim: string): TE.TaskEither<KmsError, VerifiedReceipt> => () =>
    receipts.verify(receipt, claim);

  /** A listed key, once its KeyConfig decodes and its receipt verifies. */
  const verifyListed = (listed: ListedKey): TE.TaskEither<KmsError, PublishedKeyConfig> => {
    const cached = verified.get(listed.publicKey + listed.receipt);
    return cached ? TE.right(cached) : pipe(
      TE.fromEither(E.flatMap(decodeKeyConfig)(fromHex(listed.publicKey, "publicKey"))),
      TE.flatMap((config) =>
        pipe(
          verify(listed.receipt, listed.publicKey),
          TE.map((receipt) => ({
            keyId: config.keyId,
            config,
            publicKey: listed.publicKey,
            receipt,
          })),
        )
      ),
    );
  };

  const listKeys: TE.TaskEither<KmsError, PublishedKeyConfig[]> = pipe(
    call("/listpubkeys"),
    TE.flatMapEither(decodeWith(t.array(ListedKey), "the /listpubkeys answer")),
    TE.flatMap(
      TE.traverseSeqArray((item) =>
        pipe(verifyListed(item), TE.map((entry) => [item.publicKey + item.receipt, entry] as const))
      ),
    ),
    TE.tap((pairs) =>
      TE.fromIO(() => {
        verified = new Map(pairs);
      })
    ),
    TE.map((pairs) => pairs.map(([, entry]) => entry)),
    TE.filterOrElse(
      (entries) => entries.length > 0,
      () => internal("the KMS listed no keys"),
    ),
  );

  /** Key `kid` as `/pubkey` serves it (any releasable key, listed or not), verified. */
  const publishedKey = (kid: number): TE.TaskEither<KmsError, PublishedKeyConfig> =>
    pipe(
      // The release proves the key exists: a node that does not know it yet is behind the one
      // that released it.
      call(`/app/pubkey?kid=${kid}`, {}, (e) => e._tag === "KeyNotFound"),
      TE.flatMapEither(decodeWith(ListedKey, "the /pubkey answer")),
      TE.flatMap(verifyListed),
    );

  /** The private key, unwrapped; it must be the published key `published`. */
  const unwrapped = (
    published: PublishedKeyConfig,
    wrapped: string,
    request: ReleaseKeyRequest,
  ): TE.TaskEither<KmsError, P384PrivateKey> =>
    pipe(
      TE.tryCatch(
        () => request.unwrap(wrapped),
        (e) => invalidInput(`the released key does not unwrap: ${(e as Error).message}`),
      ),
      TE.flatMapEither(decodePrivateKeyCbor),
      TE.filterOrElse(
        (key) => key.kid === published.keyId && equal(publicPoint(key), published.config.publicKey),
        () =>
          invalidReceipt(
            "claims_digest",
            `the released key ${published.keyId} does not match its published KeyConfig`,
          ),
      ),
    );

  const checkReleased = (
    body: t.TypeOf<typeof ReleaseBody>,
    request: ReleaseKeyRequest,
  ): TE.TaskEither<KmsError, ReleasedKey> =>
    pipe(
      request.kid === undefined || body.kid === request.kid
        ? publishedKey(body.kid)
        : TE.left(internal(`the KMS released key ${body.kid}, not the requested ${request.kid}`)),
      TE.flatMap((published) =>
        pipe(
          verify(body.receipt, published.publicKey),
          TE.flatMap((receipt) =>
            pipe(
              unwrapped(published, body.key, request),
              TE.map((privateKey) => ({ ...published, receipt, privateKey })),
            )
          ),
        )
      ),
    );

  return {
    listKeys,
    releaseKey: (request) =>
      pipe(
        call(`/app/key${request.kid === undefined ? "" : `?kid=${request.kid}`}`, {
          method: "POST",
          headers: { authorization: `Bearer ${request.token}` },
        }),
        // Not decodeWith: its messages quote values, and this one carries the wrapped key.
        TE.filterOrElse(
          ReleaseBody.is,
          () => internal("the /app/key answer is not {kid: number, key: string, receipt: string}"),
        ),
        TE.flatMap((body) => checkReleased(body, request)),
      )(),
    close: () => http.close(),
  };
};
