/**
 * The load generator of the benchmark scripts: keep-alive HTTP clients sending back to back,
 * bounded in requests and time, measured request by request.
 */

/** What one run of a load found. */
export interface LoadResult {
  readonly name: string;
  readonly clients: number;
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

/** A load to run. */
export interface Load {
  readonly name: string;
  /** The `i`-th request. */
  readonly request: (i: number) => Request;
  /** A connection of one client (TLS roots and client certificate, where needed). */
  readonly connect: () => Deno.HttpClient;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

/**
 * `clients` connections sending back to back until `budget` requests or `seconds` (after three
 * requests each to warm up); an answer other than 200 counts as an error, the first one printed.
 */
export const runLoad = async (
  load: Load,
  clients: number,
  budget: number,
  seconds: number,
): Promise<LoadResult> => {
  const pool = Array.from({ length: clients }, load.connect);
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const send = async (client: Deno.HttpClient, i: number) => {
    const started = performance.now();
    const response = await fetch(load.request(i), { client });
    const body = await response.text();
    if (response.status !== 200 && errors++ === 0) {
      console.error(`first non-200: ${response.status} ${body.slice(0, 300)}`);
    }
    return performance.now() - started;
  };
  try {
    await Promise.all(pool.map(async (c, i) => {
      for (let n = 0; n < 3; n++) await send(c, i);
    }));
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(pool.map(async (c) => {
      while (issued < budget && performance.now() < deadline) {
        latencies.push(await send(c, issued++));
      }
    }));
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      name: load.name,
      clients,
      requests: latencies.length,
      rps: latencies.length / elapsed,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      errors,
    };
  } finally {
    for (const c of pool) c.close();
  }
};
