/**
 * HTTPS in front of a {@link SandboxNode}, as a CCF node's RPC interface: TLS with the node
 * certificate, client certificates requested but not required (member and user authentication
 * read their raw DER), CCF's 1 MB default body limit (413, then the session is closed), loopback
 * only.
 */
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { SandboxNode, type SandboxNodeOptions } from "./node.ts";
import { assertLastPrimaryIncluded } from "../network/state.ts";
import type { NodeRequest, NodeResponse, NodeSession } from "./types.ts";
import { odataResponse } from "./types.ts";

/** CCF's default `http_configuration.max_body_size`. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/** The sandbox listens on loopback only: it is a development tool with well-known keys. */
const LOOPBACK = "127.0.0.1";

/** Where and how to listen. */
export interface ServerOptions {
  /** TCP port; 0 picks a free one (default 8000, CCF's sandbox port). */
  readonly port?: number;
  /** Largest request body accepted (default {@link DEFAULT_MAX_BODY_BYTES}). */
  readonly maxBodyBytes?: number;
}

/** A listening server. */
export interface SandboxServer {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port the server listens on (the one chosen when 0 was asked). */
  readonly port: number;
  /** Stops accepting, closes open connections and resolves when the socket is closed. */
  close(): Promise<void>;
}

const DEFAULT_PORT = 8000;

const headersOf = (req: IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
};

const peerCertOf = (socket: TLSSocket): Uint8Array | undefined => {
  const peer = typeof socket.getPeerCertificate === "function"
    ? socket.getPeerCertificate()
    : undefined;
  const raw = peer && "raw" in peer ? peer.raw : undefined;
  return raw && raw.length > 0 ? new Uint8Array(raw) : undefined;
};

// A connection's client certificate is fixed by its TLS handshake (the server offers no
// renegotiation), so it is read once per connection: reading it costs about 5 µs a request.
const clientCerts = new WeakMap<Socket, { readonly der: Uint8Array | undefined }>();
const clientCertOf = (req: IncomingMessage): Uint8Array | undefined => {
  let known = clientCerts.get(req.socket);
  if (!known) clientCerts.set(req.socket, known = { der: peerCertOf(req.socket as TLSSocket) });
  return known.der;
};

const send = (res: ServerResponse, response: NodeResponse, close = false): void => {
  const headers: Record<string, string | number> = {
    ...response.headers,
    "content-length": response.body.length,
  };
  if (close) headers["connection"] = "close";
  res.writeHead(response.status, headers);
  res.end(response.body);
};

/** Reads the body, or `null` when it exceeds `limit` (the rest is not read). */
const readBody = (req: IncomingMessage, limit: number): Promise<Uint8Array | null> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) return resolve(null);
    const chunks: Uint8Array[] = [];
    let size = 0;
    let done = false;
    req.on("data", (chunk: Uint8Array) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      const body = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        body.set(c, at);
        at += c.length;
      }
      resolve(body);
    });
    req.on("error", (e) => {
      if (!done) reject(e);
    });
  });

const tooLarge = (limit: number): NodeResponse =>
  odataResponse(
    413,
    "RequestBodyTooLarge",
    `HTTP request body is too large (max size allowed: ${limit})`,
  );

/** What a server serves: a node's TLS identity and its requests. */
export interface ServedNode {
  /** The node's certificate and key. */
  readonly workspace: { readonly nodeKeyPem: string; readonly nodeCertPem: string };
  /** Answers one request. */
  handle(request: NodeRequest): Promise<NodeResponse>;
}

/** Serves `node` over HTTPS on 127.0.0.1 with the workspace's node certificate. */
export async function serveNode(
  node: ServedNode,
  options: ServerOptions = {},
): Promise<SandboxServer> {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const sockets = new Set<Socket>();
  // A client's session is its connection, as CCF's is.
  const sessions = new WeakMap<Socket, NodeSession>();
  const sessionOf = (socket: Socket): NodeSession => {
    let session = sessions.get(socket);
    if (!session) sessions.set(socket, session = { forwarding: false });
    return session;
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const target = req.url ?? "/";
      const q = target.indexOf("?");
      const body = await readBody(req, limit);
      if (body === null) {
        send(res, tooLarge(limit), true);
        req.socket.destroySoon?.();
        return;
      }
      const request: NodeRequest = {
        method: (req.method ?? "GET").toUpperCase(),
        path: q < 0 ? target : target.slice(0, q),
        query: q < 0 ? "" : target.slice(q + 1),
        headers: headersOf(req),
        body,
        clientCert: clientCertOf(req),
        session: sessionOf(req.socket),
      };
      send(res, await node.handle(request));
    } catch (e) {
      if (!res.headersSent) {
        send(res, odataResponse(500, "InternalError", "The request could not be read."), true);
      }
      console.error(`sandbox server: ${e instanceof Error ? e.message : e}`);
    }
  };

  const server: Server = createServer({
    key: node.workspace.nodeKeyPem,
    cert: node.workspace.nodeCertPem,
    requestCert: true,
    rejectUnauthorized: false,
  }, (req, res) => void onRequest(req, res));
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? DEFAULT_PORT, LOOPBACK, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address
    ? address.port
    : (options.port ?? DEFAULT_PORT);

  let closing: Promise<void> | undefined;
  return {
    url: `https://${LOOPBACK}:${port}`,
    port,
    close: () =>
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** A started node and its HTTPS server. */
export interface RunningSandbox {
  /** The node. */
  readonly node: SandboxNode;
  /** Its HTTPS server. */
  readonly server: SandboxServer;
  /** Closes the server, then the node (which signs what is pending and closes the ledger). */
  stop(): Promise<void>;
}

/**
 * Starts a node and serves it; on a listen failure the node is closed again. A workspace whose
 * network last ran with another primary than node 0 is refused: that node has the ledger.
 */
export async function startSandbox(
  options: SandboxNodeOptions & ServerOptions,
): Promise<RunningSandbox> {
  assertLastPrimaryIncluded(options.workspace, 1);
  const node = await SandboxNode.start(options);
  let server: SandboxServer;
  try {
    server = await serveNode(node, options);
  } catch (e) {
    await node.close();
    throw e;
  }
  node.setAddress(new URL(server.url).host);
  let stopping: Promise<void> | undefined;
  return {
    node,
    server,
    stop: () =>
      stopping ??= (async () => {
        await server.close();
        await node.close();
      })(),
  };
}
