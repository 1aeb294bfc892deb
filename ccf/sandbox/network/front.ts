/**
 * The network's single address, as a TCP load balancer in front of CCF nodes: each new connection
 * goes to the next running node, round robin, and its bytes pass through untouched. TLS ends at the
 * node, so clients see that node's certificate (endorsed by the service certificate) and present
 * their client certificates to it, and a session stays on one node as long as its connection
 * lives, as behind the layer-4 balancer of a managed CCF service. A node that stops takes its
 * connections down with it; clients reconnect and land on another node.
 */

/** Where the front sends connections: the ports of the running nodes, in order. */
export type FrontTargets = () => readonly number[];

/** A listening front. */
export interface Front {
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting, closes every connection, resolves once done. */
  close(): Promise<void>;
}

const LOOPBACK = "127.0.0.1";

const closeQuietly = (conn: Deno.Conn): void => {
  try {
    conn.close();
  } catch {
    // Already closed by the other direction.
  }
};

/** Listens on `port` (0: a free one) and spreads connections over `targets`. */
export function startFront(port: number, targets: FrontTargets): Front {
  const listener = Deno.listen({ hostname: LOOPBACK, port });
  const open = new Set<Deno.Conn>();
  let next = 0;

  /** The next running node that accepts a connection, or `null` when none does. */
  const connectNext = async (): Promise<Deno.TcpConn | null> => {
    const ports = targets();
    for (let tried = 0; tried < ports.length; tried++) {
      const target = ports[next++ % ports.length];
      try {
        return await Deno.connect({ hostname: LOOPBACK, port: target });
      } catch {
        // A node that just stopped: try the next one, as a balancer's probe would.
      }
    }
    return null;
  };

  const relay = async (client: Deno.Conn): Promise<void> => {
    open.add(client);
    const upstream = await connectNext();
    if (!upstream) {
      open.delete(client);
      return closeQuietly(client);
    }
    open.add(upstream);
    const done = () => {
      closeQuietly(client);
      closeQuietly(upstream);
      open.delete(client);
      open.delete(upstream);
    };
    await Promise.allSettled([
      client.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(client.writable),
    ]).finally(done);
  };

  const accepting = (async () => {
    try {
      for await (const client of listener) void relay(client);
    } catch {
      // The listener was closed.
    }
  })();

  const { port: bound } = listener.addr as Deno.NetAddr;
  let closing: Promise<void> | undefined;
  return {
    url: `https://${LOOPBACK}:${bound}`,
    port: bound,
    close: () =>
      closing ??= (async () => {
        listener.close();
        for (const conn of open) closeQuietly(conn);
        open.clear();
        await accepting;
      })(),
  };
}
