/**
 * CCF's built-in endpoints that the KMS and its operators use: `/node/network`, `/node/commit`,
 * `/node/tx`, and on the app frontend `/commit`, `/tx`, `/receipt` and `/api` (reachable with and
 * without the `/app` prefix, after the app's own endpoints). Bodies and error codes follow CCF's.
 */
import type { Ledger, LedgerReceipt } from "../ledger/ledger.ts";
import type { EndpointInfo } from "../quickjs/mod.ts";
import { openApiDocument } from "./openapi.ts";
import { jsonResponse, type NodeResponse, odataResponse } from "./types.ts";

/** What the built-ins read from the node. */
export interface BuiltinContext {
  readonly ledger: Ledger;
  readonly serviceCertPem: string;
  readonly nodeId: string;
  /** `<view>.<seqno>` of the service's genesis transaction. */
  readonly serviceCreateTxId: string;
  /** The deployed app's endpoints ([] when none). */
  readonly endpoints: () => readonly EndpointInfo[];
}

/** The parameter CCF's `/tx` and `/receipt` take. */
const TX_ID_PARAM = "transaction_id";
const TX_ID = /^(\d+)\.(\d+)$/;

/** A parsed `<view>.<seqno>`, or the 400 response CCF gives for the query. */
const txIdFrom = (query: string): { view: number; seqno: number } | NodeResponse => {
  const value = new URLSearchParams(query).get(TX_ID_PARAM);
  if (value === null) {
    return odataResponse(
      400,
      "InvalidQueryParameterValue",
      `Missing query parameter '${TX_ID_PARAM}'`,
    );
  }
  const m = TX_ID.exec(value);
  const view = m ? Number(m[1]) : NaN;
  const seqno = m ? Number(m[2]) : NaN;
  if (!Number.isSafeInteger(view) || !Number.isSafeInteger(seqno)) {
    return odataResponse(
      400,
      "InvalidQueryParameterValue",
      `The value '${value}' passed as query parameter '${TX_ID_PARAM}' is not a valid ` +
        "transaction ID.",
    );
  }
  return { view, seqno };
};

const isResponse = (u: unknown): u is NodeResponse =>
  typeof u === "object" && u !== null && "status" in u;

/** `<view>.<seqno>` of the last transaction covered by a signature. */
export const committedTxId = (ledger: Ledger): string => {
  const seqno = ledger.lastSignedSeqno;
  return `${ledger.view}.${seqno}`;
};

/**
 * The receipt in the REST form of CCF's `describe_receipt_v1`: members in sorted order, and
 * `leaf` instead of `root_hex` for a signature transaction.
 */
export const restReceipt = (receipt: LedgerReceipt): Record<string, unknown> =>
  receipt.is_signature_transaction
    ? {
      cert: receipt.cert,
      is_signature_transaction: true,
      leaf: receipt.root_hex,
      node_id: receipt.node_id,
      signature: receipt.signature,
    }
    : {
      cert: receipt.cert,
      is_signature_transaction: false,
      leaf_components: {
        ...(receipt.leaf_components.claims_digest !== undefined
          ? { claims_digest: receipt.leaf_components.claims_digest }
          : {}),
        commit_evidence: receipt.leaf_components.commit_evidence,
        write_set_digest: receipt.leaf_components.write_set_digest,
      },
      node_id: receipt.node_id,
      proof: receipt.proof,
      signature: receipt.signature,
    };

const txStatus = (ctx: BuiltinContext, query: string): NodeResponse => {
  const id = txIdFrom(query);
  if (isResponse(id)) return id;
  return jsonResponse(200, {
    status: ctx.ledger.txStatus(id.seqno, id.view),
    transaction_id: `${id.view}.${id.seqno}`,
  });
};

/** CCF's historical adapter: 404 while pending or unknown, 404 if invalid, else the receipt. */
const receipt = (ctx: BuiltinContext, query: string): NodeResponse => {
  const id = txIdFrom(query);
  if (isResponse(id)) return id;
  const txId = `${id.view}.${id.seqno}`;
  const status = ctx.ledger.txStatus(id.seqno, id.view);
  if (status === "Invalid") {
    return odataResponse(404, "TransactionInvalid", `Transaction ${txId} is not available.`);
  }
  if (status !== "Committed") {
    return odataResponse(
      404,
      "TransactionPendingOrUnknown",
      `Transaction ${txId} is not available.`,
      { "cache-control": "no-cache" },
    );
  }
  const found = ctx.ledger.receiptFor(id.seqno);
  if (found === null) {
    return {
      status: 202,
      headers: { "retry-after": "1", "content-type": "text/plain" },
      body: new TextEncoder().encode(`Historical transaction ${txId} is not currently available.`),
    };
  }
  return jsonResponse(200, restReceipt(found));
};

const network = (ctx: BuiltinContext): NodeResponse =>
  jsonResponse(200, {
    service_status: "Open",
    service_certificate: ctx.serviceCertPem,
    current_view: ctx.ledger.view,
    primary_id: ctx.nodeId,
    recovery_count: 0,
    service_data: null,
    current_service_create_txid: ctx.serviceCreateTxId,
  });

const getOnly = (
  method: string,
  path: string,
  handler: () => NodeResponse,
): NodeResponse =>
  method === "GET" ? handler() : odataResponse(
    405,
    "UnsupportedHttpVerb",
    `Allowed methods for '${path}' are: GET.`,
    { allow: "GET" },
  );

/** A `/node/...` endpoint, or `undefined` when there is none at `path`. */
export function nodeBuiltin(
  ctx: BuiltinContext,
  method: string,
  path: string,
  query: string,
): NodeResponse | undefined {
  switch (path) {
    case "/node/network":
      return getOnly(method, path, () => network(ctx));
    case "/node/commit":
      return getOnly(
        method,
        path,
        () => jsonResponse(200, { transaction_id: committedTxId(ctx.ledger) }),
      );
    case "/node/tx":
      return getOnly(method, path, () => txStatus(ctx, query));
    default:
      return undefined;
  }
}

/**
 * A built-in of the app frontend at `localPath` (the path without `/app`), or `undefined` when
 * there is none.
 */
export function appBuiltin(
  ctx: BuiltinContext,
  method: string,
  localPath: string,
  query: string,
): NodeResponse | undefined {
  switch (localPath) {
    case "/commit":
      return getOnly(
        method,
        localPath,
        () => jsonResponse(200, { transaction_id: committedTxId(ctx.ledger) }),
      );
    case "/tx":
      return getOnly(method, localPath, () => txStatus(ctx, query));
    case "/receipt":
      return getOnly(method, localPath, () => receipt(ctx, query));
    case "/api":
      return getOnly(method, localPath, () => jsonResponse(200, openApiDocument(ctx.endpoints())));
    default:
      return undefined;
  }
}
