/**
 * CCF's built-in endpoints that apps, their operators and tools use: `/node/network`,
 * `/node/commit`, `/node/tx`, `/node/version`, `/node/state`, `/node/quotes/self`, and on the app
 * frontend `/commit`, `/tx`, `/receipt` and `/api` (reachable with and without the `/app` prefix,
 * after the app's own endpoints). Bodies and error codes follow CCF's; the node answers as a CCF 6
 * node of the insecure virtual platform (no SEV-SNP attestation) does.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Ledger, LedgerReceipt } from "../ledger/ledger.ts";
import type { EndpointInfo } from "../quickjs/mod.ts";
import type { NetworkDescription } from "./cluster.ts";
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
  /** The network the node is part of (itself alone on a one-node service). */
  readonly network: () => NetworkDescription;
  /**
   * The receipt of a committed `seqno` from the node's historical cache, `null` while the node
   * fetches it (as CCF's historical endpoints, which answer 202 meanwhile).
   */
  readonly historicalReceipt: (seqno: number) => LedgerReceipt | null;
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
  return `${ledger.viewOf(seqno) ?? ledger.view}.${seqno}`;
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

/**
 * CCF's historical adapter: 404 while pending or unknown, 404 if invalid, 202 while the node
 * fetches the transaction, else the receipt.
 */
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
  const found = ctx.historicalReceipt(id.seqno);
  if (found === null) {
    return {
      status: 202,
      headers: { "retry-after": "1", "content-type": "text/plain" },
      body: new TextEncoder().encode(`Historical transaction ${txId} is not currently available.`),
    };
  }
  return jsonResponse(200, restReceipt(found));
};

const network = (ctx: BuiltinContext): NodeResponse => {
  const { currentView, primaryId } = ctx.network();
  return jsonResponse(200, {
    service_status: "Open",
    service_certificate: ctx.serviceCertPem,
    current_view: currentView,
    primary_id: primaryId,
    recovery_count: 0,
    service_data: null,
    current_service_create_txid: ctx.serviceCreateTxId,
  });
};

const NODES_PATH = "/node/network/nodes";

/** CCF's `/node/network/nodes` and `/node/network/nodes/{node_id}`. */
const nodes = (ctx: BuiltinContext, path: string): NodeResponse => {
  const all = ctx.network().nodes;
  if (path === NODES_PATH) return jsonResponse(200, { nodes: all });
  const id = path.slice(NODES_PATH.length + 1);
  const node = all.find((n) => n.node_id === id);
  return node
    ? jsonResponse(200, node)
    : odataResponse(404, "ResourceNotFound", `Node ${id} not found.`);
};

/**
 * The CCF release whose behaviour the sandbox follows, in CCF's `ccf-<version>` form, and the
 * QuickJS release it runs apps on (the one quickjs-emscripten 0.32.0 vendors, not CCF's).
 */
const CCF_VERSION = "ccf-6.0.8";
const QUICKJS_VERSION = "2025-09-13";

const version = (): NodeResponse =>
  jsonResponse(200, { ccf_version: CCF_VERSION, quickjs_version: QUICKJS_VERSION, unsafe: false });

/**
 * A node that started from its ledger rather than a snapshot reports `startup_seqno` 0; the
 * recovery fields are absent outside a disaster recovery, which the sandbox does not run.
 */
const state = (ctx: BuiltinContext): NodeResponse =>
  jsonResponse(200, {
    last_signed_seqno: ctx.ledger.lastSignedSeqno,
    node_id: ctx.nodeId,
    startup_seqno: 0,
    state: "PartOfNetwork",
  });

/** What CCF's virtual platform reports as the measurement of every node. */
const VIRTUAL_MEASUREMENT = "Insecure hard-coded virtual measurement v1";
/**
 * CCF's virtual host data is the SHA-256 of the node's enclave package; the sandbox has none and
 * hashes its own name instead, so the value is stable across nodes and restarts.
 */
const VIRTUAL_HOST_DATA = createHash("sha256").update("ccf-sandbox").digest("hex");

/**
 * CCF's virtual "quote": compact JSON of the measurement, the host data and, as report data, the
 * SHA-256 of the node's public key (which is the node id); no endorsements. The measurement field
 * is the hex of the measurement's bytes, as CCF renders every platform's measurement.
 */
const quoteSelf = (ctx: BuiltinContext): NodeResponse => {
  const raw = JSON.stringify({
    host_data: VIRTUAL_HOST_DATA,
    measurement: VIRTUAL_MEASUREMENT,
    report_data: Buffer.from(ctx.nodeId, "hex").toString("base64"),
  });
  return jsonResponse(200, {
    endorsements: "",
    format: "Insecure_Virtual",
    measurement: Buffer.from(VIRTUAL_MEASUREMENT).toString("hex"),
    node_id: ctx.nodeId,
    raw: Buffer.from(raw).toString("base64"),
  });
};

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
    case "/node/version":
      return getOnly(method, path, version);
    case "/node/state":
      return getOnly(method, path, () => state(ctx));
    case "/node/quotes/self":
      return getOnly(method, path, () => quoteSelf(ctx));
    default:
      if (path === NODES_PATH || path.startsWith(`${NODES_PATH}/`)) {
        return getOnly(method, path, () => nodes(ctx, path));
      }
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
