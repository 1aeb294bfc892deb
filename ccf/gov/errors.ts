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
