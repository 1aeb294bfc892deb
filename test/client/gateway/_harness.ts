/**
 * Shared set-up of the gateway tests: P-384 keys made here, a fake KMS client that releases them,
 * an echo target and a gateway served on ephemeral loopback ports, and a client that reads the
 * whole answer.
 */
import assert from "node:assert/strict";
import * as E from "fp-ts/lib/Either.js";
import { p384 } from "@noble/curves/nist.js";
import { toHex } from "../../../core/bytes.ts";
import { keyNotFound } from "../../../core/errors.ts";
import { type P384PrivateKey, p384PrivateKey } from "../../../core/keys/privateKeyCbor.ts";
import { encodeKeyConfig, type KeyConfig, p384KeyConfig } from "../../../core/ohttp/keyConfig.ts";
import type { VerifiedReceipt } from "../../../core/receipt/verify.ts";
import type { KmsClient, ReleasedKey, ReleaseKeyRequest } from "../../../client/kms/client.ts";
import { createGateway, type Gateway, type GatewayOptions } from "../../../client/gateway/mod.ts";
import { postRequest, sendOhttpRequest } from "../../../client/gateway/sendRequest.ts";

/** Unwraps nothing: the fake KMS hands out keys in the clear. */
export const unwrap: ReleaseKeyRequest["unwrap"] = () =>
  Promise.reject(new Error("the fake KMS never asks to unwrap"));

/** The token every test gateway presents. */
export const TOKEN = "test-attestation-token";

/** A fresh P-384 key for OHTTP key id `kid`, as the KMS client would return it released. */
export const makeKey = (kid: number): ReleasedKey => {
  const d = p384.utils.randomSecretKey();
  const point = p384.getPublicKey(d, false);
  const config = p384KeyConfig(kid, point);
  const privateKey = p384PrivateKey({ kid, d, x: point.slice(1, 49), y: point.slice(49) });
  if (E.isLeft(config) || E.isLeft(privateKey)) throw new Error("test key construction failed");
  return {
    keyId: kid,
    config: config.right,
    publicKey: toHex(encodeKeyConfig(config.right)),
    // The gateway never reads the receipt: the KMS client has verified it before it returns.
    receipt: {} as unknown as VerifiedReceipt,
    privateKey: privateKey.right as P384PrivateKey,
  };
};

/** A KMS client that releases the given keys and counts the calls. */
export interface FakeKms extends KmsClient {
  readonly keys: Map<number, ReleasedKey>;
  /** The kid of every releaseKey call, in order. */
  readonly calls: number[];
  /** Tokens presented, in order. */
  readonly tokens: string[];
  /** Called before answering, to hold a release back or make it fail. */
  gate?: (kid: number) => Promise<void>;
}

/** A fake KMS client holding `keys`; an unknown kid is KeyNotFound, as the KMS answers. */
export const fakeKms = (...keys: ReleasedKey[]): FakeKms => {
  const kms: FakeKms = {
    keys: new Map(keys.map((k) => [k.keyId, k])),
    calls: [],
    tokens: [],
    listKeys: () => Promise.resolve(E.right([...kms.keys.values()])),
    releaseKey: async (request) => {
      const kid = request.kid ?? -1;
      kms.calls.push(kid);
      kms.tokens.push(request.token);
      assert.equal(request.unwrap, unwrap, "the gateway passes its unwrap capability");
      await kms.gate?.(kid);
      const key = kms.keys.get(kid);
      return key ? E.right(key) : E.left(keyNotFound(`no key with id ${kid}`));
    },
    close: () => {},
  };
  return kms;
};

/** What the echo target saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Headers;
  readonly body: string;
}

/** A running HTTP server on loopback. */
export interface Served {
  readonly url: URL;
  close(): Promise<void>;
}

/** An echo target that records what it receives. */
export interface EchoTarget extends Served {
  readonly seen: SeenRequest[];
}

/**
 * Echoes `<METHOD> <path>\n<body>` with status 200. Query parameters change the answer:
 * `status=N` answers N, `pieces=N` streams the echo in N pieces 20 ms apart.
 */
export const startEchoTarget = (): EchoTarget => {
  const seen: SeenRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (r) => {
    const url = new URL(r.url);
    const body = await r.text();
    seen.push({ method: r.method, path: url.pathname + url.search, headers: r.headers, body });
    const echo = new TextEncoder().encode(`${r.method} ${url.pathname}\n${body}`);
    const status = Number(url.searchParams.get("status") ?? "200");
    const pieces = Number(url.searchParams.get("pieces") ?? "1");
    const headers = { "content-type": "text/plain", "x-echo": "yes" };
    if (pieces <= 1) return new Response(status === 204 ? null : echo, { status, headers });
    const size = Math.ceil(echo.length / pieces);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent > 0) await new Promise((resolve) => setTimeout(resolve, 20));
        controller.enqueue(echo.slice(sent, sent + size));
        sent += size;
        if (sent >= echo.length) controller.close();
      },
    });
    return new Response(stream, { status, headers });
  });
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}`),
    seen,
    close: () => server.shutdown(),
  };
};

/** A gateway with test defaults (the fake KMS, {@link TOKEN}, {@link unwrap}). */
export const testGateway = (
  kms: FakeKms,
  target: URL,
  options: Partial<GatewayOptions> = {},
): Gateway =>
  createGateway({ kms, token: () => Promise.resolve(TOKEN), unwrap, target, ...options });

/** Serves a gateway on an ephemeral loopback port; its URL is the `/score` endpoint. */
export const serveGateway = (gateway: Gateway): Served => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    gateway.handle,
  );
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}/score`),
    close: () => server.shutdown(),
  };
};

/** A whole answer as the client sees it. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly sealed: boolean;
  readonly text: string;
}

/** Sends `data` to `path` through the gateway at `url` and reads the whole answer. */
export const ask = async (
  url: URL,
  config: KeyConfig,
  path: string,
  data: string,
  headers: HeadersInit = {},
): Promise<Answer> => {
  const response = await sendOhttpRequest({
    url,
    config,
    request: postRequest(path, new TextEncoder().encode(data), "text/plain"),
    headers,
  });
  if (E.isLeft(response)) assert.fail(response.left.message);
  const { status, headers: outer, sealed, body } = response.right;
  return { status, headers: outer, sealed, text: await new Response(body).text() };
};

/** The JSON error code of a gateway's own answer. */
export const errorCode = (answer: Answer): string => JSON.parse(answer.text).error.code;
