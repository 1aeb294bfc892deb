/**
 * Text of a thrown value for a log line, cut short; stack traces are left out. fetch says only
 * "fetch failed" and keeps the connection or TLS failure in the cause, so that is added.
 */
export const describeFailure = (e: unknown): string => {
  if (!(e instanceof Error)) return "unknown failure";
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
  return `${e.name}: ${e.message}${cause}`.slice(0, 300);
};
