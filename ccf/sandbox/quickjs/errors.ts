/** CCF's framework error responses: OData JSON `{"error": {"code", "message", "details"?}}`. */

/** One entry of `error.details`. */
export interface ODataDetail {
  readonly code: string;
  readonly message: string;
  readonly [more: string]: unknown;
}

/** An error response as status, headers and JSON body bytes. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

/** The OData error body CCF sends for framework errors. */
export function odataError(
  status: number,
  code: string,
  message: string,
  details?: readonly ODataDetail[],
  extraHeaders: Record<string, string> = {},
): ErrorResponse {
  const error = details ? { code, message, details } : { code, message };
  return {
    status,
    headers: { ...extraHeaders, "content-type": "application/json" },
    body: new TextEncoder().encode(JSON.stringify({ error })),
  };
}

/** CCF's message for an exception thrown by app code. */
export const EXCEPTION_MESSAGE = "Exception thrown while executing.";
/** CCF's message when the interrupt handler stopped app code. */
export const TIMEOUT_MESSAGE = "Operation took too long to complete.";
