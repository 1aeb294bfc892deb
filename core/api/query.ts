/**
 * Query strings of the KMS endpoints. CCF hands the app the raw query (`request.query`) and QuickJS
 * has no URLSearchParams, so the core parses it; every parameter is decoded strictly once here.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { invalidInput, type KmsError } from "../errors.ts";

const maxQueryLength = 2048;

/** Parameter name → values, in order of appearance. */
export type QueryParams = ReadonlyMap<string, readonly string[]>;

const decodePart = (s: string): string => decodeURIComponent(s.replace(/\+/g, " "));

/** Splits and percent-decodes a raw query string. */
export const parseQuery = (query: string): E.Either<KmsError, QueryParams> => {
  if (query.length > maxQueryLength) {
    return E.left(
      invalidInput(
        `the query string is longer than ${maxQueryLength} characters`,
      ),
    );
  }
  const params = new Map<string, string[]>();
  try {
    for (const part of query.split("&").filter((p) => p !== "")) {
      const at = part.indexOf("=");
      const [name, value] = at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
      const key = decodePart(name);
      params.set(key, [...(params.get(key) ?? []), decodePart(value)]);
    }
  } catch {
    return E.left(
      invalidInput("the query string has an invalid percent-encoding"),
    );
  }
  return E.right(params);
};

const single = (
  params: QueryParams,
  name: string,
): E.Either<KmsError, string | undefined> => {
  const values = params.get(name) ?? [];
  return values.length > 1
    ? E.left(
      invalidInput(
        `the query parameter ${name} is given ${values.length} times`,
      ),
    )
    : E.right(values[0]);
};

/** A decimal integer parameter from `min` to `max`, without sign, exponent, hex or leading zeros. */
const decimalParam =
  (name: string, min: number, max: number) =>
  (params: QueryParams): E.Either<KmsError, number | undefined> =>
    pipe(
      single(params, name),
      E.flatMap((v) =>
        v === undefined
          ? E.right(undefined)
          : /^(0|[1-9][0-9]{0,9})$/.test(v) && Number(v) >= min && Number(v) <= max
          ? E.right(Number(v))
          : E.left(invalidInput(
            `${name} must be a decimal integer from ${min} to ${max}, got ${
              JSON.stringify(v.slice(0, 16))
            }`,
          ))
      ),
    );

/** `kid`: an OHTTP key id, 0 to 255. */
export const kidParam = decimalParam("kid", 0, 255);

/** `version`: a governance policy version; version 1 is the first that a proposal set. */
export const versionParam = decimalParam("version", 1, 2 ** 32 - 1);

/** `from`: the first release number to list. */
export const fromParam = decimalParam("from", 0, 2 ** 32 - 1);

/** The most releases one answer lists. */
export const maxListedReleases = 100;

/** `limit`: how many releases to list, at most {@link maxListedReleases}. */
export const limitParam = decimalParam("limit", 1, maxListedReleases);

/** A boolean flag given as `true` or `false`; absent means false. */
export const flagParam = (
  params: QueryParams,
  name: string,
): E.Either<KmsError, boolean> =>
  pipe(
    single(params, name),
    E.flatMap((v) =>
      v === undefined || v === "false"
        ? E.right(false)
        : v === "true"
        ? E.right(true)
        : E.left(invalidInput(`${name} must be true or false`))
    ),
  );
