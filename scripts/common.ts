/**
 * What several `deno task` scripts share: stopping on a signal, tokens from the demo issuer, and
 * the options of the client scripts (where the KMS is, ports and URLs).
 */
import { join } from "node:path";

/** Resolves with the signal's name at the first SIGINT or SIGTERM, then stops listening. */
export const waitForInterrupt = (): Promise<string> =>
  new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => {
      const handler = () => {
        handlers.forEach(([s, h]) => Deno.removeSignalListener(s, h));
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return [signal, handler] as const;
    });
  });

/** The demo issuer's token endpoint, under its base URL's path. */
export const tokenUrl = (idp: URL): URL =>
  new URL("token", idp.href.endsWith("/") ? idp.href : `${idp.href}/`);

/**
 * A token from the demo attestation issuer, with claims overridden by `query` (e.g.
 * `?x-ms-azurevm-osversion-major=21`); a failure names the issuer, never a token.
 */
export const fetchDemoToken = async (idp: URL, query = ""): Promise<string> => {
  const response = await fetch(`${tokenUrl(idp)}${query}`, { method: "POST" });
  const body = await response.json().catch(() => undefined);
  if (response.status !== 200 || typeof body?.access_token !== "string") {
    throw new Error(`the attestation issuer at ${idp.origin} answered ${response.status}`);
  }
  return body.access_token;
};

/** The KMS service root when neither an option nor `$KMS_URL` names one: the sandbox's. */
export const DEFAULT_KMS_URL = "https://127.0.0.1:8000";
/** The workspace when neither `--workspace` nor `$KMS_WORKSPACE` names one. */
export const DEFAULT_WORKSPACE = "./workspace";

/** Where a client script finds the KMS and the certificate that pins it. */
export interface KmsLocation {
  /** The service root. */
  readonly url: string;
  /** The service certificate's file. */
  readonly serviceCert: string;
  /** The workspace, whose `sandbox_common/` holds the certificate by default. */
  readonly workspace: string;
}

/**
 * The KMS of the `--kms`, `--service-cert` and `--workspace` options, each falling back to the
 * variable `deno task sandbox` prints (`KMS_URL`, `KMS_SERVICE_CERT_PATH`, `KMS_WORKSPACE`) and
 * then to the sandbox's defaults. Throws when the URL is not http(s).
 */
export const kmsLocation = (
  options: { readonly kms?: string; readonly "service-cert"?: string; readonly workspace?: string },
): KmsLocation => {
  const workspace = options.workspace ?? (Deno.env.get("KMS_WORKSPACE") || DEFAULT_WORKSPACE);
  const url = options.kms ?? (Deno.env.get("KMS_URL") || DEFAULT_KMS_URL);
  httpUrl("--kms", url);
  return {
    url,
    serviceCert: options["service-cert"] ??
      (Deno.env.get("KMS_SERVICE_CERT_PATH") ||
        join(workspace, "sandbox_common", "service_cert.pem")),
    workspace,
  };
};

/** `value` as an http or https URL; throws naming `what` otherwise. */
export const httpUrl = (what: string, value: string): URL => {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    throw new Error(`${what} must be an http(s) URL, not ${value}`);
  }
  return url;
};

/** A `--port` value: an integer from 0 (any free port) to 65535; throws otherwise. */
export const parsePort = (value: string): number => {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new Error(`--port must be an integer from 0 to 65535, not ${value}`);
  }
  return port;
};

/** The service certificate's PEM, or undefined after telling on stderr why it cannot be read. */
export const readServiceCert = async (
  program: string,
  path: string,
): Promise<string | undefined> => {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    console.error(`${program}: cannot read the service certificate: ${(error as Error).message}`);
    return undefined;
  }
};
