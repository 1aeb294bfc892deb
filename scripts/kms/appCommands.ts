/**
 * The commands that call the KMS app: key rotation, the public keys with their receipts, key
 * release and transaction receipts. Nothing secret is printed: released keys stay wrapped unless
 * unwrapped with the demo TPM key, and then only their public half is shown.
 */
import * as E from "fp-ts/lib/Either.js";
import { createKmsClient } from "../../client/kms/client.ts";
import { receiptVerifier } from "../../client/kms/receiptVerifier.ts";
import { audit, reportLines } from "./audit.ts";
import { demoTpmKey } from "./demo.ts";
import { flag, stringOption } from "./args.ts";
import { loadSigner } from "./config.ts";
import { type Context, type Handler, pathFrom, readInput, serviceCertOf } from "./context.ts";
import { CliError, exitCodes, UsageError } from "./errors.ts";
import { type Answer, createTlsClient, expectJson, failureOf, send } from "../../ccf/gov/http.ts";

/** How many times a 202 (receipt not signed yet) is waited out. */
export const maxReceiptRetries = 10;
/** Longest wait honoured from `retry-after`, in seconds. */
const maxRetryAfterSeconds = 5;
/** How much of a KeyConfig is shown: enough to tell keys apart. */
const keyConfigPrefix = 24;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `2.15` from CCF's commit evidence `ce:2.15:<hex>`, the receipt's own record of its txid. */
export const txidOfCommitEvidence = (commitEvidence: string): string | undefined =>
  commitEvidence.match(/^ce:(\d+\.\d+):/)?.[1];

const txidOfReceiptJson = (receipt: unknown): string | undefined => {
  try {
    const parsed = typeof receipt === "string" ? JSON.parse(receipt) : receipt;
    const ce = parsed?.leaf_components?.commit_evidence;
    return typeof ce === "string" ? txidOfCommitEvidence(ce) : undefined;
  } catch {
    return undefined;
  }
};

const isoTime = (seconds: unknown): string =>
  typeof seconds === "number" ? new Date(seconds * 1000).toISOString() : "?";

/** Sends a request, waiting while the service answers 202 (a receipt is not signed yet). */
const sendPatiently = async (
  ctx: Context,
  client: Deno.HttpClient,
  url: string,
  init: RequestInit,
  what: string,
): Promise<Answer> => {
  for (let attempt = 0;; attempt++) {
    const answer = await send(client, url, init);
    if (answer.status !== 202) return answer;
    if (attempt >= maxReceiptRetries) {
      throw new CliError(`${what}: the service still has no receipt after ${attempt} retries`);
    }
    const after = Number(answer.headers.get("retry-after") ?? "1");
    const wait = Math.min(Number.isFinite(after) && after >= 0 ? after : 1, maxRetryAfterSeconds);
    ctx.out.progress(`${what}: waiting ${wait} s for the receipt's signature`);
    await sleep(wait * 1000);
  }
};

const refresh: Handler = async (ctx) => {
  const signer = await loadSigner(ctx.connection.member, ctx.out.addSecret);
  const client = createTlsClient(await serviceCertOf(ctx), signer);
  try {
    const query = flag(ctx.args, "if-due") ? "?ifDue=true" : "";
    const answer = await send(client, `${ctx.connection.url}/app/refresh${query}`, {
      method: "POST",
    });
    const body = expectJson(answer, "creating a key") as Record<string, unknown>;
    if (body.created === false) {
      ctx.out.result(`no key is due: the next one is due at ${isoTime(body.dueAt)}`);
      return exitCodes.ok;
    }
    ctx.out.result(`created key ${body.keyId} (index ${body.index})`);
    if (typeof body.publicKey === "string") {
      ctx.out.result(`KeyConfig: ${body.publicKey.slice(0, keyConfigPrefix)}…`);
    }
    ctx.out.result(
      `active until ${isoTime(body.notAfter)}, releasable until ${isoTime(body.releaseUntil)}`,
    );
    const txid = answer.headers.get("x-ms-ccf-transaction-id");
    if (txid) ctx.out.result(`transaction: ${txid}`);
    return exitCodes.ok;
  } finally {
    client.close();
  }
};

const keys: Handler = async (ctx) => {
  const kms = createKmsClient({
    url: ctx.connection.url,
    serviceCertPem: await serviceCertOf(ctx),
  });
  try {
    ctx.out.progress("listing the public keys and verifying their receipts");
    const listed = await kms.listKeys();
    if (E.isLeft(listed)) {
      const hint = listed.left._tag === "KeyNotFound" ? " (create one: deno task kms refresh)" : "";
      throw new CliError(`listing keys failed: ${listed.left.message}${hint}`);
    }
    if (flag(ctx.args, "json")) {
      ctx.out.result(JSON.stringify(
        listed.right.map((key) => ({
          kid: key.keyId,
          publicKey: key.publicKey,
          receiptTxid: txidOfCommitEvidence(key.receipt.receipt.leafComponents.commitEvidence),
          verified: true,
        })),
        null,
        2,
      ));
      return exitCodes.ok;
    }
    ctx.out.result("kid  KeyConfig                  receipt txid");
    for (const key of listed.right) {
      const txid = txidOfCommitEvidence(key.receipt.receipt.leafComponents.commitEvidence) ?? "?";
      ctx.out.result(
        `${String(key.keyId).padEnd(4)} ${key.publicKey.slice(0, keyConfigPrefix)}…  ${txid}`,
      );
    }
    ctx.out.progress(`${listed.right.length} key(s), every receipt verified`);
    return exitCodes.ok;
  } finally {
    kms.close();
  }
};

/** Parses `--kid`: a one-byte OHTTP key id. */
export const parseKid = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^\d{1,3}$/.test(value) || Number(value) > 255) {
    throw new UsageError(`--kid must be a key id from 0 to 255, not ${value}`, "key");
  }
  return Number(value);
};

const tokenOf = async (ctx: Context, command: string): Promise<string> => {
  const inline = stringOption(ctx.args, "token");
  const file = stringOption(ctx.args, "token-file");
  if ((inline === undefined) === (file === undefined)) {
    throw new UsageError(
      "give the attestation token with --token or --token-file (one of them)",
      command,
    );
  }
  const token = (inline ?? await readInput(ctx, file!, "the token file")).trim();
  ctx.out.addSecret(token);
  // Checked without quoting it: a malformed token is still a secret.
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new CliError("the token is not a JWT (three base64url parts separated by dots)");
  }
  return token;
};

const releaseUnwrapped = async (
  ctx: Context,
  workspace: string,
  kid: number | undefined,
  token: string,
): Promise<number> => {
  const tpm = await demoTpmKey(workspace);
  const kms = createKmsClient({
    url: ctx.connection.url,
    serviceCertPem: await serviceCertOf(ctx),
  });
  try {
    ctx.out.progress("releasing the key, unwrapping it and checking it against its receipt");
    const released = await kms.releaseKey({ kid, token, unwrap: tpm.unwrap });
    if (E.isLeft(released)) throw new CliError(`key release failed: ${released.left.message}`);
    ctx.out.result(`kid: ${released.right.keyId}`);
    ctx.out.result(`publicKey: ${released.right.publicKey}`);
    return exitCodes.ok;
  } finally {
    kms.close();
  }
};

const releaseWrapped = async (
  ctx: Context,
  kid: number | undefined,
  token: string,
): Promise<number> => {
  const out = stringOption(ctx.args, "out");
  const client = createTlsClient(await serviceCertOf(ctx));
  try {
    const query = kid === undefined ? "" : `?kid=${kid}`;
    ctx.out.progress("releasing the key");
    const answer = await sendPatiently(ctx, client, `${ctx.connection.url}/app/key${query}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    }, "key release");
    if (answer.status !== 200) throw new CliError(`key release failed: ${failureOf(answer)}`);
    const body = expectJson(answer, "key release") as Record<string, unknown>;
    const wrapped = typeof body.key === "string" ? body.key : "";
    ctx.out.result(`kid: ${body.kid}`);
    ctx.out.result(
      `wrapped key: ${Math.floor(wrapped.replace(/=+$/, "").length * 3 / 4)} bytes ` +
        "(RSA-OAEP-SHA256 to the TPM key of the token)",
    );
    ctx.out.result(`receipt txid: ${txidOfReceiptJson(body.receipt) ?? "?"}`);
    if (out !== undefined) {
      const path = pathFrom(ctx, out);
      await Deno.writeTextFile(path, answer.text, { mode: 0o600 });
      if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
      ctx.out.result(`saved the answer to ${path}`);
    }
    return exitCodes.ok;
  } finally {
    client.close();
  }
};

const key: Handler = async (ctx) => {
  const kid = parseKid(stringOption(ctx.args, "kid"));
  const workspace = stringOption(ctx.args, "unwrap-workspace");
  if (workspace !== undefined && stringOption(ctx.args, "out") !== undefined) {
    throw new UsageError(
      "--out saves the wrapped key: it does not go with --unwrap-workspace",
      "key",
    );
  }
  const token = await tokenOf(ctx, "key");
  return workspace === undefined
    ? await releaseWrapped(ctx, kid, token)
    : await releaseUnwrapped(ctx, pathFrom(ctx, workspace), kid, token);
};

interface Explanation {
  readonly wouldRelease: boolean;
  readonly decision: { readonly status: number; readonly code?: string; readonly message?: string };
  readonly issuer: string;
  readonly jwtValidation: { readonly passed: boolean; readonly message?: string };
  readonly policyVersion: number;
  readonly rules: readonly {
    readonly rule: string;
    readonly claim: string;
    readonly expected: unknown;
    readonly actual: unknown;
    readonly passed: boolean;
  }[];
  readonly wrappingKey: { readonly passed: boolean; readonly message?: string };
  readonly key: { readonly kid?: number; readonly state?: string; readonly error?: string };
}

const mark = (passed: boolean) => (passed ? "pass" : "FAIL");

/** An explanation as lines an operator reads: the verdict first, then each check. */
export const explanationLines = (e: Explanation): string[] => [
  e.wouldRelease
    ? `/key would release key ${e.key.kid} to this token`
    : `/key would refuse this token: ${e.decision.status} ${e.decision.code}: ${e.decision.message}`,
  `${mark(e.jwtValidation.passed)}  JWT validation policy of ${e.issuer}` +
  (e.jwtValidation.message ? `: ${e.jwtValidation.message}` : ""),
  `key release policy version ${e.policyVersion}${e.rules.length === 0 ? ": no rules" : ":"}`,
  ...e.rules.map((r) =>
    `${mark(r.passed)}  ${r.rule} ${r.claim}: expected ${JSON.stringify(r.expected)}, ` +
    `token has ${JSON.stringify(r.actual)}`
  ),
  `${mark(e.wrappingKey.passed)}  TPM wrapping key in the token` +
  (e.wrappingKey.message ? `: ${e.wrappingKey.message}` : ""),
  e.key.error ? `FAIL  key: ${e.key.error}` : `pass  key ${e.key.kid} (${e.key.state})`,
];

const explain: Handler = async (ctx) => {
  const kid = parseKid(stringOption(ctx.args, "kid"));
  const token = await tokenOf(ctx, "explain");
  const client = createTlsClient(await serviceCertOf(ctx));
  try {
    const query = kid === undefined ? "" : `?kid=${kid}`;
    const answer = await send(client, `${ctx.connection.url}/app/explain${query}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    const explanation = expectJson(answer, "explaining the token") as Explanation;
    if (flag(ctx.args, "json")) ctx.out.result(JSON.stringify(explanation, null, 2));
    else for (const line of explanationLines(explanation)) ctx.out.result(line);
    return exitCodes.ok;
  } finally {
    client.close();
  }
};

/** `--since`: seconds since the epoch, or an ISO 8601 date. */
const parseSince = (value: string | undefined): number => {
  if (value === undefined) return 0;
  const seconds = /^\d+$/.test(value) ? Number(value) : Date.parse(value) / 1000;
  if (!Number.isFinite(seconds)) {
    throw new UsageError(
      `--since must be seconds since the epoch or a date, not ${value}`,
      "audit",
    );
  }
  return Math.floor(seconds);
};

const auditCommand: Handler = async (ctx) => {
  const since = parseSince(stringOption(ctx.args, "since"));
  const serviceCertPem = await serviceCertOf(ctx);
  const client = createTlsClient(serviceCertPem);
  try {
    ctx.out.progress("reading the policies, keys and releases and verifying every receipt");
    const get = async (path: string) =>
      expectJson(await send(client, `${ctx.connection.url}${path}`), `GET ${path}`);
    const report = await audit(get, receiptVerifier(serviceCertPem), since);
    if (flag(ctx.args, "json")) ctx.out.result(JSON.stringify(report, null, 2));
    else for (const line of reportLines(report)) ctx.out.result(line);
    return report.failures.length === 0 ? exitCodes.ok : exitCodes.failed;
  } finally {
    client.close();
  }
};

/** Checks a transaction id `<view>.<seqno>`. */
export const checkTxid = (txid: string): string => {
  if (!/^\d{1,19}\.\d{1,19}$/.test(txid)) {
    throw new UsageError(
      `the transaction id must be <view>.<seqno>, e.g. 2.20, not ${txid}`,
      "receipt",
    );
  }
  return txid;
};

const receipt: Handler = async (ctx) => {
  const txid = checkTxid(ctx.args.positionals[0]);
  const client = createTlsClient(await serviceCertOf(ctx));
  try {
    const answer = await sendPatiently(
      ctx,
      client,
      `${ctx.connection.url}/app/receipt?transaction_id=${txid}`,
      {},
      `the receipt of ${txid}`,
    );
    ctx.out.result(JSON.stringify(expectJson(answer, `the receipt of ${txid}`), null, 2));
    return exitCodes.ok;
  } finally {
    client.close();
  }
};

/** The app commands' handlers, by command name. */
export const appHandlers: Readonly<Record<string, Handler>> = {
  refresh,
  keys,
  key,
  explain,
  receipt,
  audit: auditCommand,
};
