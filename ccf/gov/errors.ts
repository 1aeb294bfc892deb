/**
 * The one failure of the governance client: the service could not be reached, or refused or
 * misanswered a request. The message says what failed in an operator's terms and never carries
 * secret material (keys, tokens): it is built from names, statuses and the service's public answer.
 */
export class ServiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ServiceError";
  }
}

/**
 * CCF's 500 when the constitution's `apply` or `resolve` threw: the service discarded the whole
 * transaction, so the proposal (or the ballot that decided it) was not recorded.
 */
export class ConstitutionFailure extends ServiceError {
  constructor(
    message: string,
    /** Which constitution function threw. */
    readonly stage: "apply" | "resolve",
    /** The constitution's error, as CCF reports it. */
    readonly reason: string,
  ) {
    super(message);
    this.name = "ConstitutionFailure";
  }
}
