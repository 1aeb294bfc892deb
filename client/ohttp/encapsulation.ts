/**
 * OHTTP request encapsulation (RFC 9458 §4.3) for clients and its decapsulation for gateways, with
 * the response protection that each side's context then provides: the standard RFC 9458 §4.4
 * response, or the chunked framing that the real OHTTP server sends
 * (draft-ietf-ohai-chunked-ohttp, see chunkedResponse.ts).
 *
 * The request is `hdr ‖ enc ‖ ct` with `hdr = key_id ‖ kem ‖ kdf ‖ aead` and HPKE base mode over
 * `info = "message/bhttp request" ‖ 0x00 ‖ hdr`, empty aad; the real client sends it unchunked even
 * though it names the media type `message/ohttp-chunked-req`.
 *
 * Every failure of the input is a Left: WebCrypto and @hpke/core throw, so their calls are caught
 * here and never reach the caller.
 */
import * as E from "fp-ts/lib/Either.js";
import type { SenderContextParams } from "@hpke/core";
import { concat, utf8 } from "../../core/bytes.ts";
import type { Either } from "../../core/either.ts";
import { internal, invalidInput, type KmsError } from "../../core/errors.ts";
import type { KeyConfig } from "../../core/ohttp/keyConfig.ts";
import {
  type ChunkedResponseReader,
  chunkedResponseReader,
  type ChunkedResponseSealer,
  chunkedResponseSealer,
  responseCipher,
  responseNonceLength,
  sealChunks,
  TAG_LENGTH,
} from "./chunkedResponse.ts";
import {
  clientSuite,
  hex4,
  type HpkeSuite,
  hpkeSuite,
  importPrivateKey,
  importPublicKey,
  isPublicKey,
} from "./suite.ts";
import { type RecipientContext, setupBaseR } from "./hpkeRecipient.ts";

/** Length of the request header `key_id ‖ kem ‖ kdf ‖ aead`. */
export const REQUEST_HEADER_LENGTH = 7;

const REQUEST_LABEL = utf8("message/bhttp request");
const RESPONSE_LABEL = utf8("message/bhttp response");

const u16 = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);

/** The algorithm choice at the head of an encapsulated request. */
export interface RequestHeader {
  /** The OHTTP key id, 0..255: which of the gateway's keys the request is sealed to. */
  readonly keyId: number;
  /** HPKE KEM id (16 bits), e.g. 0x0011 for DHKEM(P-384, HKDF-SHA384). */
  readonly kem: number;
  /** HPKE KDF id (16 bits). */
  readonly kdf: number;
  /** HPKE AEAD id (16 bits). */
  readonly aead: number;
}

const encodeHeader = (h: RequestHeader): Uint8Array =>
  concat(Uint8Array.of(h.keyId), u16(h.kem), u16(h.kdf), u16(h.aead));

const requestInfo = (header: Uint8Array): Uint8Array =>
  concat(REQUEST_LABEL, Uint8Array.of(0), header);

/**
 * The key id of an encapsulated request, read before decapsulation: a gateway needs it to choose
 * (or fetch from the KMS) the private key.
 */
export const requestKeyId = (body: Uint8Array): E.Either<KmsError, number> =>
  body.length === 0
    ? E.left(invalidInput("encapsulated request is empty: no key id"))
    : E.right(body[0]);

/** Options for sealing a response; the nonce is injectable for known-answer tests only. */
export interface ResponseOptions {
  /** The response nonce, max(Nk, Nn) bytes; random by default. Never reuse one. */
  readonly nonce?: Uint8Array;
}

/** What the client keeps of a request to open its response. */
export interface ClientContext {
  /** The suite the request was sealed with. */
  readonly header: RequestHeader;
  /** Opens an RFC 9458 response `response_nonce ‖ ct` into the bhttp response it carries. */
  openResponse(body: Uint8Array): Promise<Either<KmsError, Uint8Array>>;
  /** Opens a whole response in the peers' chunked framing: the plaintext of each chunk. */
  openChunkedResponse(body: Uint8Array): Promise<Either<KmsError, Uint8Array[]>>;
  /** Opens the peers' chunked framing as it streams in. */
  chunkedResponseReader(): ChunkedResponseReader;
}

/** What the gateway keeps of a request to seal its response. */
export interface GatewayContext {
  /** Seals an RFC 9458 response: `response_nonce ‖ Seal(key, nonce_base, "", response)`. */
  sealResponse(
    response: Uint8Array,
    options?: ResponseOptions,
  ): Promise<Either<KmsError, Uint8Array>>;
  /** Seals a whole response in the peers' chunked framing, the last chunk final. */
  sealChunkedResponse(chunks: readonly Uint8Array[]): Promise<Either<KmsError, Uint8Array>>;
  /** Seals the peers' chunked framing chunk by chunk, for a streamed response. */
  chunkedResponseSealer(
    options?: ResponseOptions,
  ): Promise<Either<KmsError, ChunkedResponseSealer>>;
}

interface Exporter {
  export(exporterContext: Uint8Array, length: number): Promise<ArrayBuffer>;
}

/** The response keys of an exchange, derived lazily: the export costs nothing until used. */
const responseKeys = (suite: HpkeSuite, exporter: Exporter, enc: Uint8Array) => {
  let secret: Promise<Uint8Array> | undefined;
  return (nonce: Uint8Array) => {
    secret ??= exporter.export(RESPONSE_LABEL, responseNonceLength(suite)).then((s) =>
      new Uint8Array(s)
    );
    return secret.then((s) => responseCipher(suite, s, enc, nonce));
  };
};

const clientContext = (
  header: RequestHeader,
  suite: HpkeSuite,
  exporter: Exporter,
  enc: Uint8Array,
): ClientContext => {
  const cipherFor = responseKeys(suite, exporter, enc);
  const nonceLength = responseNonceLength(suite);
  const reader = () => chunkedResponseReader(nonceLength, cipherFor);
  return {
    header,
    openResponse: async (body) => {
      if (body.length < nonceLength + TAG_LENGTH) {
        return E.left(invalidInput(
          `OHTTP response: truncated: ${body.length} bytes, at least ${
            nonceLength + TAG_LENGTH
          } expected`,
        ));
      }
      try {
        const cipher = await cipherFor(body.slice(0, nonceLength));
        const pt = await cipher.open(0, new Uint8Array(0), body.subarray(nonceLength));
        return pt ? E.right(pt) : E.left(invalidInput("OHTTP response failed authentication"));
      } catch {
        return E.left(invalidInput("OHTTP response: the response keys could not be derived"));
      }
    },
    openChunkedResponse: async (body) => {
      const r = reader();
      const chunks = await r.push(body);
      if (E.isLeft(chunks)) return chunks;
      const end = await r.end();
      return E.isLeft(end) ? end : chunks;
    },
    chunkedResponseReader: reader,
  };
};

const responseNonce = (
  suite: HpkeSuite,
  options: ResponseOptions | undefined,
): E.Either<KmsError, Uint8Array> => {
  const length = responseNonceLength(suite);
  if (!options?.nonce) return E.right(crypto.getRandomValues(new Uint8Array(length)));
  return options.nonce.length === length
    ? E.right(options.nonce)
    : E.left(invalidInput(`response nonce must be ${length} bytes, got ${options.nonce.length}`));
};

const gatewayContext = (suite: HpkeSuite, exporter: Exporter, enc: Uint8Array): GatewayContext => {
  const cipherFor = responseKeys(suite, exporter, enc);
  const sealer = async (
    options?: ResponseOptions,
  ): Promise<E.Either<KmsError, ChunkedResponseSealer>> => {
    const nonce = responseNonce(suite, options);
    if (E.isLeft(nonce)) return nonce;
    try {
      return E.right(chunkedResponseSealer(await cipherFor(nonce.right), nonce.right));
    } catch {
      return E.left(internal("the OHTTP response keys could not be derived"));
    }
  };
  return {
    sealResponse: async (response, options) => {
      const nonce = responseNonce(suite, options);
      if (E.isLeft(nonce)) return nonce;
      try {
        const cipher = await cipherFor(nonce.right);
        return E.right(concat(nonce.right, await cipher.seal(0, new Uint8Array(0), response)));
      } catch {
        return E.left(internal("sealing the OHTTP response failed"));
      }
    },
    sealChunkedResponse: async (chunks) => {
      const s = await sealer();
      return E.isLeft(s) ? s : sealChunks(s.right, chunks);
    },
    chunkedResponseSealer: sealer,
  };
};

/** A request sealed for a gateway, and the context that opens its response. */
export interface EncapsulatedRequest {
  /** The body to POST: `hdr ‖ enc ‖ ct`. */
  readonly body: Uint8Array;
  /** Keep it until the response arrives: only it can open the response. */
  readonly context: ClientContext;
}

/** Options of {@link encapsulateRequest}; the ephemeral key is for known-answer tests only. */
export interface EncapsulateOptions {
  /** HPKE's ephemeral key pair; generated by default. Reusing one breaks the encryption. */
  readonly ephemeralKeyPair?: CryptoKeyPair;
}

/**
 * Seals a bhttp request to the config's key with the first suite it offers that this library
 * runs (as the real client does).
 */
export const encapsulateRequest = async (
  config: KeyConfig,
  bhttpRequest: Uint8Array,
  options: EncapsulateOptions = {},
): Promise<E.Either<KmsError, EncapsulatedRequest>> => {
  const suite = clientSuite(config);
  if (E.isLeft(suite)) return suite;
  const publicKey = await importPublicKey(config);
  if (E.isLeft(publicKey)) return publicKey;
  const { kem, kdf, aead } = suite.right;
  const header: RequestHeader = { keyId: config.keyId, kem, kdf, aead };
  const hdr = encodeHeader(header);
  try {
    const params: SenderContextParams = {
      recipientPublicKey: publicKey.right,
      info: requestInfo(hdr),
      ...(options.ephemeralKeyPair ? { ekm: options.ephemeralKeyPair } : {}),
    };
    const sender = await suite.right.cipherSuite.createSenderContext(params);
    const enc = new Uint8Array(sender.enc);
    const ct = new Uint8Array(await sender.seal(bhttpRequest));
    return E.right({
      body: concat(hdr, enc, ct),
      context: clientContext(header, suite.right, sender, enc),
    });
  } catch {
    return E.left(internal("HPKE encapsulation of the OHTTP request failed"));
  }
};

/** A request opened by the gateway, and the context that seals its response. */
export interface DecapsulatedRequest {
  /** The key id and suite the client chose. */
  readonly header: RequestHeader;
  /** The bhttp request. */
  readonly request: Uint8Array;
  /** Seals the response to this request, and to no other. */
  readonly context: GatewayContext;
}

/**
 * A gateway's private key: the pair from {@link importPrivateKey} (fastest), a private CryptoKey
 * (its public half is derived per request, so it must be extractable), or the raw scalar (imported
 * and checked against the config per request).
 */
export type GatewayPrivateKey = CryptoKeyPair | CryptoKey | Uint8Array;

const parseHeader = (
  config: KeyConfig,
  body: Uint8Array,
): E.Either<KmsError, { header: RequestHeader; suite: HpkeSuite }> => {
  if (body.length < REQUEST_HEADER_LENGTH) {
    return E.left(invalidInput(
      `encapsulated request: truncated: ${body.length} bytes, shorter than the 7-byte header`,
    ));
  }
  const read = (at: number) => (body[at] << 8) | body[at + 1];
  const header: RequestHeader = { keyId: body[0], kem: read(1), kdf: read(3), aead: read(5) };
  if (header.keyId !== config.keyId) {
    return E.left(invalidInput(
      `encapsulated request: key id ${header.keyId} does not match this key's id ${config.keyId}`,
    ));
  }
  if (header.kem !== config.kem) {
    return E.left(invalidInput(
      `encapsulated request: KEM ${hex4(header.kem)} does not match key ${config.keyId}'s KEM ${
        hex4(config.kem)
      }`,
    ));
  }
  if (!config.suites.some((s) => s.kdf === header.kdf && s.aead === header.aead)) {
    return E.left(invalidInput(
      `encapsulated request: suite (KDF ${hex4(header.kdf)}, AEAD ${
        hex4(header.aead)
      }) is not offered by key ${config.keyId}`,
    ));
  }
  const suite = hpkeSuite(header.kem, header.kdf, header.aead);
  return E.isLeft(suite) ? suite : E.right({ header, suite: suite.right });
};

const recipientKey = async (
  key: GatewayPrivateKey,
  config: KeyConfig,
): Promise<E.Either<KmsError, CryptoKeyPair | CryptoKey>> =>
  key instanceof Uint8Array ? await importPrivateKey(config, key) : E.right(key);

/**
 * HPKE's recipient context for a request: ./hpkeRecipient.ts where it runs the suite and has the
 * key pair (the gateway's case), @hpke/core otherwise (X25519, or a lone private key whose public
 * half @hpke derives).
 */
const recipientContext = (
  suite: HpkeSuite,
  key: CryptoKeyPair | CryptoKey,
  enc: Uint8Array,
  body: Uint8Array,
): Promise<RecipientContext> => {
  const info = requestInfo(body.subarray(0, REQUEST_HEADER_LENGTH));
  return suite.recipient && !(key instanceof CryptoKey)
    ? setupBaseR(suite.recipient, key, enc, info)
    : suite.cipherSuite.createRecipientContext({ recipientKey: key, enc, info });
};

/**
 * Opens an encapsulated request with the gateway's key for `config`. A wrong key id, KEM or
 * suite, a truncated body, an invalid `enc` or a ciphertext that fails authentication is a Left.
 */
export const decapsulateRequest = async (
  key: GatewayPrivateKey,
  config: KeyConfig,
  body: Uint8Array,
): Promise<E.Either<KmsError, DecapsulatedRequest>> => {
  const parsed = parseHeader(config, body);
  if (E.isLeft(parsed)) return parsed;
  const { header, suite } = parsed.right;
  const ctAt = REQUEST_HEADER_LENGTH + suite.encLength;
  if (body.length < ctAt + TAG_LENGTH) {
    return E.left(invalidInput(
      `encapsulated request: truncated: ${body.length} bytes, at least ${
        ctAt + TAG_LENGTH
      } expected`,
    ));
  }
  const enc = body.slice(REQUEST_HEADER_LENGTH, ctAt);
  if (!isPublicKey(suite.kem, enc)) {
    return E.left(invalidInput("encapsulated request: enc is not a valid public key"));
  }
  const recipient = await recipientKey(key, config);
  if (E.isLeft(recipient)) return recipient;
  let context;
  try {
    context = await recipientContext(suite, recipient.right, enc, body);
  } catch {
    return E.left(invalidInput(
      "encapsulated request: the gateway's private key is unusable for this request",
    ));
  }
  try {
    const request = new Uint8Array(await context.open(body.subarray(ctAt)));
    return E.right({ header, request, context: gatewayContext(suite, context, enc) });
  } catch {
    return E.left(invalidInput(
      "encapsulated request failed authentication (tampered, or sealed to another key)",
    ));
  }
};
