/** Request correlation ids, taken from the caller's headers as the seed KMS and its peers send them. */

const headerNames = ["requestid", "x-ms-request-id", "x-request-id"] as const;

/**
 * The caller's request id, if it sent a usable one: the first of `requestid`, `x-ms-request-id`,
 * `x-request-id`. Only UUID-like ids are kept, so that nothing a caller sends reaches the logs
 * unchecked.
 */
export const requestIdOf = (
  headers: Readonly<Record<string, string | undefined>>,
): string | undefined =>
  headerNames.map((h) => headers[h]).find((v) => v !== undefined && /^[A-Za-z0-9-]{1,64}$/.test(v));
