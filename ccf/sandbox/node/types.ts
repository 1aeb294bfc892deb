/** The transport-independent request and response of the sandbox node, and its KV read view. */

/** One HTTP request as the node sees it, after the TLS layer. */
export interface NodeRequest {
  /** Upper-case method. */
  readonly method: string;
  /** Path as received (not percent-decoded), without the query string. */
  readonly path: string;
  /** Raw query string without `?`; `""` when there is none. */
  readonly query: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body bytes. */
  readonly body: Uint8Array;
  /** DER of the TLS client certificate, when the client presented one. */
  readonly clientCert?: Uint8Array;
  /** The client's session (its TLS connection), when the request came over one. */
  readonly session?: NodeSession;
  /** Set when a backup forwarded the request to this node. */
  readonly forwarded?: boolean;
}

/** What CCF keeps per client session. */
export interface NodeSession {
  /**
   * Set once a request of the session was forwarded to the primary: later requests of endpoints
   * with `forwarding_required: "sometimes"` are forwarded too, so the session reads its writes.
   */
  forwarding: boolean;
}

/** One HTTP response: lower-case header names. */
export interface NodeResponse {
  /** The HTTP status. */
  readonly status: number;
  /** Response headers, lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body bytes. */
  readonly body: Uint8Array;
}

/** Point reads of the committed KV, keyed by UTF-8 strings as CCF's governance tables are. */
export type KvLookup = (map: string, key: string) => Uint8Array | undefined;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string. */
export const utf8 = (s: string): Uint8Array => encoder.encode(s);
/** The string of UTF-8 bytes. */
export const fromUtf8 = (b: Uint8Array): string => decoder.decode(b);

/** A JSON response. */
export const jsonResponse = (
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): NodeResponse => ({
  status,
  headers: { ...headers, "content-type": "application/json" },
  body: utf8(JSON.stringify(value)),
});

/** CCF's OData error response `{"error": {"code", "message", "details"?}}`. */
export const odataResponse = (
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  details?: readonly unknown[],
): NodeResponse =>
  jsonResponse(
    status,
    { error: details ? { code, message, details } : { code, message } },
    headers,
  );
