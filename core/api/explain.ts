/**
 * What the key release policy says about a token, without releasing anything: the answer of
 * `POST /explain`, for a VM operator whose token is refused, and of the CLI's dry run of a proposed
 * policy. The verdict is {@link decideRelease}'s own, so an explanation never disagrees with what
 * `/key` does with the same token at the same time.
 */
import * as E from "fp-ts/lib/Either.js";
import { checkJwtValidation } from "../attestation/jwtValidation.ts";
import { wrappingKeyOf } from "../attestation/wrappingKey.ts";
import { type KmsError, toHttp } from "../errors.ts";
import { keyToRelease } from "../keys/planner.ts";
import { keyState } from "../keys/record.ts";
import { type RuleResult, ruleResults } from "../policy/keyRelease.ts";
import { decideRelease, type ReleaseRequest } from "./release.ts";

/** A check that passed, or why it failed. */
export type Check = { readonly passed: true } | {
  readonly passed: false;
  readonly message: string;
};

/** The explanation of a release request. */
export interface Explanation {
  /** Whether `/key` would release a key for this token now. */
  readonly wouldRelease: boolean;
  /** `/key`'s answer: the status it would give, and the error when it would refuse. */
  readonly decision: {
    readonly status: number;
    readonly code?: string;
    readonly message?: string;
  };
  /** The issuer that signed the token. */
  readonly issuer: string;
  /** The issuer's JWT validation policy. */
  readonly jwtValidation: Check;
  /** The key release policy's version, and each of its rules checked against the token. */
  readonly policyVersion: number;
  readonly rules: readonly RuleResult[];
  /** The TPM key the released key would be wrapped to. */
  readonly wrappingKey: Check;
  /** The key that would be released, or why there is none. */
  readonly key:
    | { readonly kid: number; readonly index: number; readonly state: string }
    | { readonly error: string };
}

const check = (r: E.Either<KmsError, unknown>): Check =>
  E.isRight(r) ? { passed: true } : { passed: false, message: r.left.message };

/** Explains `request` against the key release policy of version `policyVersion`. */
export const explainRelease = (request: ReleaseRequest, policyVersion: number): Explanation => {
  const decision = decideRelease(request);
  const key = keyToRelease(request.keys, request.kid, request.now);
  return {
    wouldRelease: E.isRight(decision),
    decision: E.isRight(decision) ? { status: 200 } : {
      status: toHttp(decision.left).status,
      code: decision.left._tag,
      message: decision.left.message,
    },
    issuer: request.issuer,
    jwtValidation: check(checkJwtValidation(request.issuer, request.jwtPolicy, request.claims)),
    policyVersion,
    rules: ruleResults(request.releasePolicy, request.claims),
    wrappingKey: check(wrappingKeyOf(request.claims)),
    key: E.isRight(key)
      ? {
        kid: key.right.keyId,
        index: key.right.index,
        state: keyState(key.right, request.now),
      }
      : { error: key.left.message },
  };
};
