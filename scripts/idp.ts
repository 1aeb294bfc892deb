/**
 * `deno task idp`: runs the demo attestation issuer (an MAA stand-in) on loopback until Ctrl-C.
 *
 * See ccf/sandbox/standins/attestationIssuer.ts for what it serves.
 */
import { parseArgs } from "node:util";
import { DEFAULT_WORKSPACE, parsePort, waitForInterrupt } from "./common.ts";
import {
  type AttestationIssuer,
  DEFAULT_HOSTNAME,
  DEFAULT_ISSUER,
  DEFAULT_PORT,
  startAttestationIssuer,
} from "@kms/sandbox";

/** The variable the seed's scripts read the token endpoint from. */
const TOKEN_URL_VARIABLE = "AadEndpoint";

const USAGE = `Usage: deno task idp [--workspace DIR] [--port PORT] [--issuer ISS] [--https]

Runs the demo attestation issuer, a stand-in for Microsoft Azure Attestation, on
${DEFAULT_HOSTNAME}. It signs RS256 tokens with the claims of a healthy Azure confidential VM
and puts the demo TPM key in x-ms-runtime.keys.

Options:
  --workspace DIR  where the keys live, under DIR/idp/ (default ${DEFAULT_WORKSPACE})
  --port PORT      TCP port, 0 for any free one (default ${DEFAULT_PORT})
  --issuer ISS     the tokens' iss claim (default ${DEFAULT_ISSUER}; with --https, the
                   issuer's URL, where CCF looks for its OpenID metadata)
  --https          serve HTTPS with a certificate from the issuer's own CA (kept in
                   DIR/idp/tls_ca_cert.pem), so that the KMS can trust it with
                   automatic key refresh:
                     deno task kms trust-issuer <URL> --auto-refresh --ca-cert-bundle <CA file>
  -h, --help       print this help

Endpoints:
  POST /token                             {"token_type":"bearer","access_token":<JWT>}
  GET  /keys                              the JWKS (n/e and x5c), for set_jwt_issuer
  GET  /.well-known/openid-configuration  {issuer, jwks_uri}
  POST /rotate                            a new signing key: later tokens are signed with it
                                          and the JWKS serves it alone (as MAA rotating keys)

Query parameters of POST /token override claims. A value that parses as JSON is used
parsed (so 1.0 is the number 1; write %221.0%22 for the string "1.0"), anything else as
a string; dotted names reach nested claims; omit=NAME[,NAME...] removes claims:
  curl -X POST 'http://${DEFAULT_HOSTNAME}:${DEFAULT_PORT}/token?x-ms-azurevm-osversion-major=21'
  curl -X POST 'http://${DEFAULT_HOSTNAME}:${DEFAULT_PORT}/token?x-ms-isolation-tee.x-ms-compliance-status=none'
  curl -X POST 'http://${DEFAULT_HOSTNAME}:${DEFAULT_PORT}/token?x-ms-ver=%222.0%22&omit=x-ms-runtime'
`;

interface Arguments {
  readonly workspace: string;
  readonly port: number;
  readonly issuer?: string;
  readonly https: boolean;
}

/** Parses the command line; `undefined` means help was asked for. */
const parseArguments = (args: string[]): Arguments | undefined => {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      workspace: { type: "string", default: DEFAULT_WORKSPACE },
      port: { type: "string", default: String(DEFAULT_PORT) },
      issuer: { type: "string" },
      https: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const port = parsePort(values.port);
  if (values.issuer !== undefined && !URL.canParse(values.issuer)) {
    throw new Error(`--issuer must be a URL, such as ${DEFAULT_ISSUER}`);
  }
  return { workspace: values.workspace, port, issuer: values.issuer, https: values.https };
};

const main = async (): Promise<number> => {
  let args: Arguments | undefined;
  try {
    args = parseArguments(Deno.args);
  } catch (error) {
    console.error(`idp: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args === undefined) {
    console.log(USAGE);
    return 0;
  }

  let issuer: AttestationIssuer;
  try {
    issuer = await startAttestationIssuer({
      workspace: args.workspace,
      port: args.port,
      issuer: args.issuer,
      tls: args.https,
      log: (line) => console.log(`${new Date().toISOString()} ${line}`),
    });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`idp: port ${args.port} is in use; pick another with --port`);
    } else {
      console.error(`idp: cannot start: ${(error as Error).message}`);
    }
    return 1;
  }

  // Listening before the banner: a signal right after it stops cleanly, not by default.
  const interrupted = waitForInterrupt();
  console.log(`Demo attestation issuer listening on ${issuer.url}`);
  console.log(`  token:     POST ${issuer.url}/token`);
  console.log(`  keys:      GET  ${issuer.url}/keys`);
  console.log(`  issuer:    ${issuer.issuer}`);
  console.log(`  rotate:    POST ${issuer.url}/rotate`);
  if (issuer.ca) console.log(`  CA:        ${issuer.ca.path}`);
  console.log(`  workspace: ${args.workspace} (keys in its idp/ folder)`);
  console.log(`Use it with:\n  export ${TOKEN_URL_VARIABLE}=${issuer.url}/token`);
  if (issuer.ca) {
    console.log(
      `Token requests trust the issuer's CA: curl --cacert ${issuer.ca.path} -X POST ` +
        `${issuer.url}/token\nTrust it with automatic key refresh:\n  deno task kms ` +
        `trust-issuer ${issuer.issuer} --auto-refresh --ca-cert-bundle ${issuer.ca.path}`,
    );
  }
  console.log("Press Ctrl-C to stop.");

  const signal = await interrupted;
  console.log(`${signal}: stopping`);
  await issuer.stop();
  console.log("stopped");
  return 0;
};

Deno.exit(await main());
