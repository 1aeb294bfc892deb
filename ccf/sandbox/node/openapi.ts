/**
 * `GET /app/api`: the OpenAPI 3 document of the app frontend, built like CCF's from the endpoint
 * table — each `app.json` endpoint's `openapi` operation object under its path and method (unless
 * `openapi_hidden`), plus the frontend's built-in endpoints. Paths are relative to the `/app`
 * server, as in CCF's document.
 */
import type { EndpointInfo } from "../quickjs/mod.ts";

/** The built-in app endpoints the node serves next to the app's own. */
const BUILTIN_OPERATIONS: Readonly<Record<string, Record<string, unknown>>> = {
  "/api": { summary: "This OpenAPI document" },
  "/commit": { summary: "The latest committed transaction id" },
  "/tx": {
    summary: "The status of a transaction",
    parameters: [txIdParameter()],
  },
  "/receipt": {
    summary: "The receipt of a committed transaction",
    parameters: [txIdParameter()],
  },
};

function txIdParameter() {
  return {
    name: "transaction_id",
    in: "query",
    required: true,
    schema: { type: "string", pattern: "^[0-9]+\\.[0-9]+$" },
  };
}

const JWT_SCHEME = { type: "http", scheme: "bearer", bearerFormat: "JWT" };

const templateParameters = (path: string) =>
  [...path.matchAll(/\{([^}]+)\}/g)].map((m) => ({
    name: m[1],
    in: "path",
    required: true,
    schema: { type: "string" },
  }));

const operationOf = (endpoint: EndpointInfo): Record<string, unknown> => {
  const declared = (endpoint.properties.openapi ?? {}) as Record<string, unknown>;
  const operation: Record<string, unknown> = {
    responses: { default: { description: "Default response" } },
    ...declared,
  };
  const params = templateParameters(endpoint.path);
  if (params.length > 0 && operation.parameters === undefined) operation.parameters = params;
  const policies = endpoint.properties.authn_policies ?? [];
  if (operation.security === undefined && policies.includes("jwt")) {
    operation.security = [{ jwt: [] }];
  }
  operation["x-ccf-authn-policies"] = policies;
  operation["x-ccf-mode"] = endpoint.properties.mode ?? "readwrite";
  return operation;
};

/** The document for the deployed `endpoints` (empty when no app is deployed). */
export function openApiDocument(endpoints: readonly EndpointInfo[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, operation] of Object.entries(BUILTIN_OPERATIONS)) {
    paths[path] = {
      get: { responses: { default: { description: "Default response" } }, ...operation },
    };
  }
  for (const endpoint of endpoints) {
    if (endpoint.properties.openapi_hidden) continue;
    (paths[endpoint.path] ??= {})[endpoint.method.toLowerCase()] = operationOf(endpoint);
  }
  const sorted = Object.fromEntries(Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    openapi: "3.0.0",
    info: {
      title: "CCF Application API",
      description: "The deployed JavaScript app, served by the ccf-sandbox node",
      version: "0.0.1",
    },
    servers: [{ url: "/app" }],
    components: { securitySchemes: { jwt: JWT_SCHEME } },
    paths: sorted,
  };
}
