/**
 * `deno task ohttp`: a one-shot OHTTP client, as the real attested client behaves. It lists the
 * KMS's public keys (every receipt verified against the service certificate, failing closed),
 * takes the last one, seals a POST with the given data to the gateway, and prints the status and
 * the opened answer as it streams in.
 */
import { parseArgs } from "node:util";
import * as E from "fp-ts/lib/Either.js";
import { createKmsClient } from "../client/kms/client.ts";
import { DEFAULT_PATH } from "../client/gateway/gateway.ts";
import { postRequest, sendOhttpRequest } from "../client/gateway/sendRequest.ts";
import { describeFailure } from "../client/gateway/describeFailure.ts";
import {
  DEFAULT_KMS_URL,
  DEFAULT_WORKSPACE,
  httpUrl,
  kmsLocation,
  readServiceCert,
} from "./common.ts";

const USAGE = `Usage: deno task ohttp <gateway-url> [options]

Sends one request through an OHTTP gateway: lists the KMS's public keys (each receipt must
verify against the service certificate, or nothing is sent), seals a POST with the data to
the last key (the newest, as the real client chooses), and prints the status and the answer.
A gateway URL without a path gets ${DEFAULT_PATH}.

Options:
  --data TEXT         the body of the POST (default empty)
  --path PATH         the path (and query) for the target (default /)
  --kms URL           the KMS service root (default $KMS_URL, else ${DEFAULT_KMS_URL})
  --service-cert PEM  the KMS service certificate (default $KMS_SERVICE_CERT_PATH, else
                      <workspace>/sandbox_common/service_cert.pem)
  --workspace DIR     where to look for the service certificate
                      (default $KMS_WORKSPACE, else ${DEFAULT_WORKSPACE})
  -h, --help          print this help

Exit status: 0 for a 2xx answer, 1 for any other answer or failure, 2 for bad usage.
`;

interface Arguments {
  readonly gateway: URL;
  readonly data: string;
  readonly path: string;
  readonly kms: string;
  readonly serviceCert: string;
}

/** Parses the command line; `undefined` means help was asked for. */
const parseArguments = (args: string[]): Arguments | undefined => {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      data: { type: "string", default: "" },
      path: { type: "string", default: "/" },
      kms: { type: "string" },
      "service-cert": { type: "string" },
      workspace: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  if (positionals.length !== 1) throw new Error("give exactly one gateway URL");
  const gateway = httpUrl("the gateway URL", positionals[0]);
  if (gateway.pathname === "/") gateway.pathname = DEFAULT_PATH;
  if (!values.path.startsWith("/")) throw new Error("--path must start with /");
  const kms = kmsLocation(values);
  return {
    gateway,
    data: values.data,
    path: values.path,
    kms: kms.url,
    serviceCert: kms.serviceCert,
  };
};

const main = async (): Promise<number> => {
  let args: Arguments | undefined;
  try {
    args = parseArguments(Deno.args);
  } catch (error) {
    console.error(`ohttp: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args === undefined) {
    console.log(USAGE);
    return 0;
  }

  const serviceCertPem = await readServiceCert("ohttp", args.serviceCert);
  if (serviceCertPem === undefined) return 1;
  const kms = createKmsClient({ url: args.kms, serviceCertPem });
  let keys;
  try {
    keys = await kms.listKeys();
  } catch (error) {
    console.error(`ohttp: the KMS at ${args.kms} could not be reached: ${describeFailure(error)}`);
    return 1;
  } finally {
    kms.close();
  }
  if (E.isLeft(keys)) {
    console.error(`ohttp: no trusted key from the KMS: ${keys.left._tag}: ${keys.left.message}`);
    return 1;
  }
  const key = keys.right[keys.right.length - 1];
  console.error(`ohttp: key ${key.keyId} of the KMS, its receipt verified`);

  const response = await sendOhttpRequest({
    url: args.gateway,
    config: key.config,
    request: postRequest(args.path, new TextEncoder().encode(args.data), "text/plain"),
  });
  if (E.isLeft(response)) {
    console.error(`ohttp: ${response.left.message}`);
    return 1;
  }
  const { status, sealed, body } = response.right;
  console.log(`HTTP ${status}${sealed ? "" : " (from the gateway, not sealed)"}`);
  try {
    await body.pipeTo(Deno.stdout.writable, { preventClose: true });
  } catch (error) {
    console.error(`\nohttp: the answer could not be opened: ${(error as Error).message}`);
    return 1;
  }
  console.log();
  return status >= 200 && status < 300 ? 0 : 1;
};

if (import.meta.main) Deno.exit(await main());
