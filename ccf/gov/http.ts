/**
 * HTTPS to a CCF service: TLS clients that trust the service certificate (and, for endpoints that
 * authenticate members, present the member's certificate), and requests whose failures say what
 * went wrong in an operator's terms.
 */
import { ServiceError } from "./errors.ts";

/** How long one request may take; deploying a bundle is the slowest, well within it. */
export const requestTimeoutMs = 60_000;
/** Most characters of a service's unexpected answer quoted in an error. */
const maxQuoted = 300;

/** A TLS client certificate. */
export interface ClientCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * A client that verifies the service with `serviceCertPem`. Deno adds the roots it is given to its
 * default ones; a CCF service certificate is self-signed, so it is the one that matters here.
 */
export const createTlsClient = (
  serviceCertPem: string,
  clientCertificate?: ClientCertificate,
): Deno.HttpClient =>
  Deno.createHttpClient({
    caCerts: [serviceCertPem],
    ...(clientCertificate
      ? { cert: clientCertificate.certPem, key: clientCertificate.keyPem }
      : {}),
  });

/** A service's answer, read in full. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** The messages of an error and its causes: Deno's fetch says only "fetch failed" at the top. */
const messagesOf = (e: unknown): string => {
  const messages: string[] = [];
  for (let cause = e, depth = 0; cause !== undefined && depth < 4; depth++) {
    messages.push(cause instanceof Error ? cause.message : String(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return messages.join(": ");
};

const explainNetworkError = (url: string, e: unknown): string => {
  const message = messagesOf(e);
  const origin = new URL(url).origin;
  if (/connection refused/i.test(message)) {
    return `cannot reach ${origin}: connection refused (is the service running? start the ` +
      "sandbox, or give --url)";
  }
  if (/certificate|UnknownIssuer|tls|handshake/i.test(message)) {
    return `TLS with ${origin} failed: ${message.slice(0, maxQuoted)} (is --service-cert the ` +
      "certificate of this service?)";
  }
  if (e instanceof DOMException && e.name === "TimeoutError") {
    return `${origin} did not answer within ${requestTimeoutMs / 1000} s`;
  }
  return `request to ${origin} failed: ${message.slice(0, maxQuoted)}`;
};

/** Sends a request and reads the answer; network and TLS failures become a {@link ServiceError}. */
export const send = async (
  client: Deno.HttpClient,
  url: string,
  init: RequestInit = {},
): Promise<Answer> => {
  try {
    const response = await fetch(url, {
      ...init,
      client,
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  } catch (e) {
    throw new ServiceError(explainNetworkError(url, e));
  }
};

/** The JSON of an answer, or undefined if it is not JSON. */
export const jsonOf = (answer: Answer): unknown => {
  try {
    return JSON.parse(answer.text);
  } catch {
    return undefined;
  }
};

/**
 * What a failed answer says: CCF's (and the KMS's) `{"error": {"code", "message"}}`, else the
 * start of the body.
 */
export const failureOf = (answer: Answer): string => {
  const body = jsonOf(answer) as { error?: { code?: unknown; message?: unknown } } | undefined;
  const error = body?.error;
  if (error && typeof error.message === "string") {
    const code = typeof error.code === "string" ? `${error.code}: ` : "";
    return `${answer.status} ${code}${error.message}`;
  }
  const text = answer.text.trim();
  return text
    ? `${answer.status} ${text.slice(0, maxQuoted)}${text.length > maxQuoted ? "..." : ""}`
    : `${answer.status} (no body)`;
};

/** Throws a {@link ServiceError} saying `what` failed unless the answer is 200. */
export const expectOk = (answer: Answer, what: string): Answer => {
  if (answer.status !== 200) throw new ServiceError(`${what} failed: ${failureOf(answer)}`);
  return answer;
};

/** The JSON of a 200 answer; anything else (or non-JSON) is a {@link ServiceError}. */
export const expectJson = (answer: Answer, what: string): unknown => {
  expectOk(answer, what);
  const json = jsonOf(answer);
  if (json === undefined) throw new ServiceError(`${what}: the service did not answer JSON`);
  return json;
};
