/** Governance errors: CCF's OData error responses, as data the routes turn into HTTP. */

/** One error response: status, OData code and message, optional details and headers. */
export interface GovError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly details?: readonly Record<string, unknown>[];
  readonly headers?: Readonly<Record<string, string>>;
}

/** A value, or the error response that replaces it. */
export type GovResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: GovError };

/** A {@link GovError}. */
export const govError = (
  status: number,
  code: string,
  message: string,
  extra: Pick<GovError, "details" | "headers"> = {},
): GovError => ({ status, code, message, ...extra });

/** A successful {@link GovResult}. */
export const ok = <T>(value: T): GovResult<T> => ({ ok: true, value });

/** A failed {@link GovResult}. */
export const fail = <T = never>(error: GovError): GovResult<T> => ({ ok: false, error });
