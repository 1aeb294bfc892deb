/** What several `deno task` scripts share: stopping on a signal, and tokens from the demo issuer. */

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
