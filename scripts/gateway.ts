/**
 * `deno task gateway`: a Deno OHTTP gateway on loopback, in front of an inference engine, with
 * its keys released by the KMS to the demo attestation issuer's tokens and unwrapped with the
 * workspace's demo TPM key. See client/gateway/gateway.ts for what it does with a request.
 */
import { parseArgs } from "node:util";
import { createKmsClient } from "../client/kms/client.ts";
import { loadTpmKey } from "@kms/sandbox";
import { createGateway, DEFAULT_PATH } from "../client/gateway/gateway.ts";
import {
  DEFAULT_KMS_URL,
  DEFAULT_WORKSPACE,
  fetchDemoToken,
  httpUrl,
  kmsLocation,
  parsePort,
  readServiceCert,
  tokenUrl,
  waitForInterrupt,
} from "./common.ts";

const DEFAULT_PORT = 9443;
const DEFAULT_IDP_URL = "http://127.0.0.1:3000";
// Loopback only: the demo gateway holds keys unwrapped with a software "TPM".
const HOSTNAME = "127.0.0.1";

const USAGE = `Usage: deno task gateway --target URL [options]

Runs an OHTTP gateway on ${HOSTNAME}: POST ${DEFAULT_PATH} takes an OHTTP request (RFC 9458,
content type message/ohttp-chunked-req) sealed to a KMS key, forwards the HTTP request inside
to the target, and seals the target's answer (message/ohttp-chunked-res). Private keys are
released by the KMS on the first request for each key id, with a token of the demo attestation
issuer, and unwrapped with the demo TPM key of the workspace.

Options:
  --target URL        the inference engine; requests go to its origin with the client's path
  --kms URL           the KMS service root (default $KMS_URL, else ${DEFAULT_KMS_URL})
  --service-cert PEM  the KMS service certificate (default $KMS_SERVICE_CERT_PATH, else
                      <workspace>/sandbox_common/service_cert.pem)
  --port PORT         TCP port, 0 for any free one (default ${DEFAULT_PORT})
  --idp URL           the demo attestation issuer; tokens from POST <idp>/token
                      (default ${DEFAULT_IDP_URL})
  --workspace DIR     the workspace whose idp/ holds the demo TPM key
                      (default $KMS_WORKSPACE, else ${DEFAULT_WORKSPACE})
  -h, --help          print this help
`;

interface Arguments {
  readonly target: URL;
  readonly kms: string;
  readonly serviceCert: string;
  readonly port: number;
  readonly idp: URL;
  readonly workspace: string;
}

/** Parses the command line; `undefined` means help was asked for. */
const parseArguments = (args: string[]): Arguments | undefined => {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: "string" },
      kms: { type: "string" },
      "service-cert": { type: "string" },
      port: { type: "string", default: String(DEFAULT_PORT) },
      idp: { type: "string", default: DEFAULT_IDP_URL },
      workspace: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  if (values.target === undefined) throw new Error("--target is required");
  const kms = kmsLocation(values);
  return {
    target: httpUrl("--target", values.target),
    kms: kms.url,
    serviceCert: kms.serviceCert,
    port: parsePort(values.port),
    idp: httpUrl("--idp", values.idp),
    workspace: kms.workspace,
  };
};

const main = async (): Promise<number> => {
  let args: Arguments | undefined;
  try {
    args = parseArguments(Deno.args);
  } catch (error) {
    console.error(`gateway: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args === undefined) {
    console.log(USAGE);
    return 0;
  }

  const serviceCertPem = await readServiceCert("gateway", args.serviceCert);
  if (serviceCertPem === undefined) return 1;
  const tpm = await loadTpmKey(args.workspace);
  const kms = createKmsClient({ url: args.kms, serviceCertPem });
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  const gateway = createGateway({
    kms,
    token: () => fetchDemoToken(args.idp),
    unwrap: tpm.unwrap,
    target: args.target,
    log,
  });

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: HOSTNAME, port: args.port, onListen: () => {} },
      gateway.handle,
    );
  } catch (error) {
    kms.close();
    console.error(
      error instanceof Deno.errors.AddrInUse
        ? `gateway: port ${args.port} is in use; pick another with --port`
        : `gateway: cannot listen: ${(error as Error).message}`,
    );
    return 1;
  }

  // Listening before the banner: a signal right after it stops cleanly, not by default.
  const interrupted = waitForInterrupt();
  const url = `http://${HOSTNAME}:${server.addr.port}${DEFAULT_PATH}`;
  console.log(`OHTTP gateway listening on ${url}`);
  console.log(`  target:    ${args.target.origin}`);
  console.log(`  KMS:       ${args.kms} (service certificate ${args.serviceCert})`);
  console.log(`  tokens:    POST ${tokenUrl(args.idp)}`);
  console.log(`  workspace: ${args.workspace} (demo TPM key in its idp/ folder)`);
  console.log(`Try it with:\n  deno task ohttp ${url} --data hello`);
  console.log("Press Ctrl-C to stop.");

  const signal = await interrupted;
  console.log(`${signal}: stopping`);
  await server.shutdown();
  kms.close();
  console.log("stopped");
  return 0;
};

if (import.meta.main) Deno.exit(await main());
