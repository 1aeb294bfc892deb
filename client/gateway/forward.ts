/**
 * The request the gateway sends to its target, built from the decapsulated bhttp request, and the
 * outer headers of the sealed answer, built from the target's.
 *
 * The target is fixed by the operator: only the path comes from the client (the inner request's,
 * or the `enginetarget` header's as with the real server), and a path that would move the request
 * to another origin is refused. The inner scheme and authority are ignored for the same reason.
 */
import * as E from "fp-ts/lib/Either.js";
import type { BhttpRequest } from "../ohttp/bhttp.ts";

/** The outer header that overrides the inner request's path (microsoft/attested-ohttp-server). */
export const ENGINE_TARGET_HEADER = "enginetarget";

// Connection-specific fields (RFC 9110 §7.6.1) and those fetch computes itself: passing them on
// would describe a connection that does not exist or contradict the body actually sent.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

// Besides the hop-by-hop fields, the target's body fields describe a body the client never sees
// as such (it gets AES-GCM chunks), and a cookie would be set for the gateway's origin.
const NOT_COPIED_TO_CLIENT = new Set([
  ...HOP_BY_HOP,
  "content-type",
  "content-encoding",
  "content-range",
  "set-cookie",
]);

const BODYLESS_METHODS = new Set(["GET", "HEAD"]);

/**
 * The URL to forward to: the target's origin with the client's path (and query). Fails when the
 * path is not origin-form (`/...`), so that no client can point the gateway elsewhere.
 */
export const targetUrl = (
  target: URL,
  innerPath: string,
  engineTarget: string | null,
): E.Either<string, URL> => {
  const path = engineTarget ?? (innerPath === "" ? "/" : innerPath);
  const from = engineTarget === null ? "the inner request's path" : `the ${ENGINE_TARGET_HEADER}`;
  if (!path.startsWith("/") || path.startsWith("//") || /[\s\\]/.test(path)) {
    return E.left(`${from} must be an absolute path such as /score`);
  }
  let url: URL;
  try {
    url = new URL(path, target.origin);
  } catch {
    return E.left(`${from} is not a valid path`);
  }
  return url.origin === target.origin ? E.right(url) : E.left(`${from} leaves the target`);
};

/**
 * The target request for a decapsulated bhttp request. Messages on failure name the part that is
 * wrong, never its value: the inner request is the client's plaintext.
 */
export const targetRequest = (
  inner: BhttpRequest,
  url: URL,
): E.Either<string, Request> => {
  const headers = new Headers();
  for (const [i, [name, value]] of inner.headers.entries()) {
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    try {
      headers.append(name, value);
    } catch {
      return E.left(`inner header ${i} is not a valid HTTP field`);
    }
  }
  const method = inner.method.toUpperCase();
  if (BODYLESS_METHODS.has(method) && inner.content.length > 0) {
    return E.left(`an inner ${method} request cannot carry content`);
  }
  try {
    return E.right(
      new Request(url, {
        method: inner.method,
        headers,
        body: BODYLESS_METHODS.has(method) ? null : new Uint8Array(inner.content),
        redirect: "manual",
      }),
    );
  } catch {
    return E.left("the inner request's method is not one the gateway can forward");
  }
};

/** The outer headers of a sealed answer: the target's, less those that describe its body. */
export const outerHeaders = (
  target: Headers,
  extra: Record<string, string>,
): Headers => {
  const headers = new Headers();
  for (const [name, value] of target) {
    if (!NOT_COPIED_TO_CLIENT.has(name)) headers.append(name, value);
  }
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return headers;
};
