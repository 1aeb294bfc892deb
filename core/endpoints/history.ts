/**
 * The ledger's history as an auditor reads it: every key ever created and every key release, a
 * page at a time, each with the receipt of the transaction that wrote it; and how a release is
 * recorded in the first place.
 */
import * as E from "fp-ts/lib/Either.js";
import { pipe } from "fp-ts/lib/function.js";
import { fromParam, limitParam, maxListedReleases, parseQuery } from "../api/query.ts";
import { releaseDigestInputs } from "../api/releaseRecord.ts";
import type { ReleaseDecision, ReleaseRequest } from "../api/release.ts";
import type { AppRequest } from "../api/request.ts";
import { loadKeys, receiptLookups } from "../api/state.ts";
import { decodeWith } from "../codec.ts";
import {
  all,
  flatMap,
  fromEither,
  get,
  map,
  perform,
  performAll,
  type Program,
  traverse,
} from "../effects.ts";
import { internal, type KmsError } from "../errors.ts";
import { PublishedKey } from "../keys/record.ts";
import { keysTable, releaseCountTable, releasesTable, type Table } from "../tables.ts";

/** How many releases are recorded (0 before the first): the next release's number. */
const releaseCount = (): Program<number> =>
  get(
    releaseCountTable.map,
    releaseCountTable.key,
    (stored): E.Either<KmsError, number> =>
      stored === undefined
        ? E.right(0)
        : typeof stored === "number" && Number.isInteger(stored) && stored >= 0
        ? E.right(stored)
        : E.left(internal("the release count is corrupt")),
    fromEither,
  );

/**
 * Records a release as the next one: its record's text, the new count, and the transaction's
 * claims digest bound to that text. Gives the release's number.
 */
export const recordRelease = (
  decision: ReleaseDecision,
  release: ReleaseRequest,
  policyVersion: number,
  requestId: string | undefined,
): Program<number> => {
  const inputs = releaseDigestInputs(decision, release);
  const digests = perform({ _tag: "Sha256", texts: inputs.texts });
  return pipe(
    all({ n: releaseCount(), digests }),
    flatMap(({ n, digests }) => {
      const text = JSON.stringify(inputs.record(n, digests, policyVersion, requestId));
      return perform({ _tag: "Sha256", texts: [text] }, ([digest]) =>
        pipe(
          performAll([
            { _tag: "Put", map: releasesTable.map, key: String(n), value: text },
            { _tag: "Put", map: releaseCountTable.map, key: releaseCountTable.key, value: n + 1 },
            { _tag: "SetClaimsDigest", digest },
          ]),
          map(() => n),
        ));
    }),
  );
};

/** The page `from` (0 by default), `limit` (100 at most and by default) of a query. */
const pageOf = (request: AppRequest): Program<{ readonly from: number; readonly limit: number }> =>
  fromEither(pipe(
    parseQuery(request.query),
    E.flatMap((q) =>
      pipe(
        fromParam(q),
        E.flatMap((from) =>
          pipe(
            limitParam(q),
            E.map((limit) => ({ from: from ?? 0, limit: limit ?? maxListedReleases })),
          )
        ),
      )
    ),
  ));

/**
 * The records numbered `from`..`from + limit` (of `total`) in `table`, each decoded, with the
 * receipt of the transaction that wrote it (null while no signature covers it yet).
 */
const page = <A>(
  table: Table,
  { from, limit }: { readonly from: number; readonly limit: number },
  total: number,
  decode: (stored: unknown, n: string) => E.Either<KmsError, A>,
): Program<{ total: number; from: number; entries: { record: A; receipt: string | null }[] }> => {
  const numbers = Array.from(
    { length: Math.max(0, Math.min(total, from + limit) - from) },
    (_, i) => String(from + i),
  );
  return pipe(
    all({
      records: traverse(
        numbers,
        (n) => get(table.map, n, (stored) => decode(stored, n), fromEither),
      ),
      receipts: receiptLookups(table.map, numbers),
    }),
    map(({ records, receipts }) => ({
      total,
      from,
      entries: records.map((record, i) => {
        const receipt = receipts[i];
        return { record, receipt: E.isRight(receipt) ? receipt.right : null };
      }),
    })),
  );
};

/**
 * `GET /keys[?from=N&limit=M]`: every key ever created, by index, each public record with the
 * receipt that proves it: what an auditor checks, where `/listpubkeys` shows only keys in use.
 */
export const keyHistory = (request: AppRequest): Program<unknown> =>
  pipe(
    all({ at: pageOf(request), keys: loadKeys() }),
    flatMap(({ at, keys }) =>
      page(
        keysTable,
        at,
        keys.reduce((n, k) => Math.max(n, k.index + 1), 0),
        (stored, n) => decodeWith(PublishedKey, `the record of key ${n}`)(stored),
      )
    ),
    map(({ total, from, entries }) => ({
      total,
      from,
      keys: entries.map(({ record, receipt }) => ({ key: record, receipt })),
    })),
  );

/**
 * `GET /releases[?from=N&limit=M]`: the release records by number, each the JSON text its
 * receipt's claims digest binds, with that receipt.
 */
export const releases = (request: AppRequest): Program<unknown> =>
  pipe(
    all({ at: pageOf(request), total: releaseCount() }),
    flatMap(({ at, total }) =>
      page(releasesTable, at, total, (stored, n) =>
        typeof stored === "string"
          ? E.right(stored)
          : E.left(internal(`the record of release ${n} is missing or corrupt`)))
    ),
    map(({ total, from, entries }) => ({ total, from, releases: entries })),
  );
