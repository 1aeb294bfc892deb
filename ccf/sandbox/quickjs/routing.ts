/**
 * CCF's dispatch of app requests: exact path first, then templated paths (`{name}` is one path
 * segment), then 404 or 405. App endpoints are served under `/app` and unprefixed.
 */
import type { EndpointInfo } from "./bundle.ts";

/** The outcome of matching a method and path against the endpoint table. */
export type RouteMatch =
  | {
    readonly kind: "endpoint";
    readonly endpoint: EndpointInfo;
    /** Template parameters, raw as they appear in the path. */
    readonly params: Readonly<Record<string, string>>;
    /** `/app` + the templated path, as `request.route` reports it. */
    readonly route: string;
  }
  /** No endpoint has this path: 404. `path` is the path without the `/app` prefix. */
  | { readonly kind: "notFound"; readonly path: string }
  /** The path exists for other methods: 405 (204 for OPTIONS) with these methods. */
  | { readonly kind: "methodNotAllowed"; readonly path: string; readonly allowed: string[] }
  /** More than one templated path matches: CCF reports an error. */
  | { readonly kind: "ambiguous"; readonly path: string; readonly candidates: string[] };

interface Template {
  readonly regex: RegExp;
  readonly names: readonly string[];
}

const escapeRegex = (s: string) => s.replace(/[.*+?^$()|[\]\\]/g, "\\$&");

const compileTemplate = (path: string): Template | undefined => {
  const names: string[] = [];
  const source = path.split(/(\{[^}]*\})/).map((part) => {
    if (part.startsWith("{") && part.endsWith("}")) {
      names.push(part.slice(1, -1));
      return "([^/]+)";
    }
    return escapeRegex(part);
  }).join("");
  return names.length === 0 ? undefined : { regex: new RegExp(`^${source}$`), names };
};

// llhttp's method numbering, which orders CCF's set of allowed verbs.
const METHOD_ORDER = [
  "DELETE",
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "COPY",
  "LOCK",
  "MKCOL",
  "MOVE",
  "PROPFIND",
  "PROPPATCH",
  "SEARCH",
  "UNLOCK",
  "BIND",
  "REBIND",
  "UNBIND",
  "ACL",
  "REPORT",
  "MKACTIVITY",
  "CHECKOUT",
  "MERGE",
  "M-SEARCH",
  "NOTIFY",
  "SUBSCRIBE",
  "UNSUBSCRIBE",
  "PATCH",
  "PURGE",
];

const methodRank = (m: string) => {
  const i = METHOD_ORDER.indexOf(m);
  return i < 0 ? METHOD_ORDER.length : i;
};

/** Strips the `/app` actor prefix; unprefixed paths address the app too. */
export const appPath = (path: string): string =>
  path === "/app" ? "" : path.startsWith("/app/") ? path.slice(4) : path;

/** A router over a fixed endpoint table. */
export class Router {
  readonly #exact = new Map<string, EndpointInfo>();
  readonly #templates: Array<{ endpoint: EndpointInfo; template: Template }> = [];
  readonly #table: readonly EndpointInfo[];

  constructor(table: readonly EndpointInfo[]) {
    this.#table = table;
    for (const endpoint of table) {
      this.#exact.set(`${endpoint.method} ${endpoint.path}`, endpoint);
      const template = compileTemplate(endpoint.path);
      if (template) this.#templates.push({ endpoint, template });
    }
  }

  /** Matches `method` (any case) and `path` (with or without `/app`, without query string). */
  match(method: string, path: string): RouteMatch {
    const verb = method.toUpperCase();
    const local = appPath(path);
    const exact = this.#exact.get(`${verb} ${local}`);
    if (exact) return { kind: "endpoint", endpoint: exact, params: {}, route: `/app${local}` };
    const hits = this.#templates.flatMap(({ endpoint, template }) => {
      if (endpoint.method !== verb) return [];
      const m = template.regex.exec(local);
      return m ? [{ endpoint, template, m }] : [];
    });
    if (hits.length > 1) {
      return { kind: "ambiguous", path: local, candidates: hits.map((h) => h.endpoint.path) };
    }
    if (hits.length === 1) {
      const { endpoint, template, m } = hits[0];
      const params: Record<string, string> = {};
      template.names.forEach((name, i) => (params[name] = m[i + 1]));
      return { kind: "endpoint", endpoint, params, route: `/app${endpoint.path}` };
    }
    const allowed = [
      ...new Set(
        this.#table.filter((e) => {
          const t = compileTemplate(e.path);
          return t ? t.regex.test(local) : e.path === local;
        }).map((e) => e.method),
      ),
    ].sort((a, b) => methodRank(a) - methodRank(b) || (a < b ? -1 : 1));
    return allowed.length === 0
      ? { kind: "notFound", path: local }
      : { kind: "methodNotAllowed", path: local, allowed };
  }
}
