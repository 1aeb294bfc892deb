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

/** The latencies (ms) and the seconds of one measured stretch of a load. */
interface Stretch {
  readonly latencies: number[];
  readonly seconds: number;
  readonly errors: number;
}

/** One measured stretch of `load` (see {@link runLoad}). */
const measure = async (
  load: Load,
  clients: number,
  budget: number,
  seconds: number,
  warm?: () => void,
): Promise<Stretch> => {
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
    warm?.();
    const started = performance.now();
    const deadline = started + seconds * 1000;
    await Promise.all(pool.map(async (c) => {
      while (issued < budget && performance.now() < deadline) {
        latencies.push(await send(c, issued++));
      }
    }));
    return { latencies, seconds: (performance.now() - started) / 1000, errors };
  } finally {
    for (const c of pool) c.close();
  }
};

const summary = (load: Load, clients: number, stretches: readonly Stretch[]): LoadResult => {
  const latencies = stretches.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = stretches.reduce((sum, s) => sum + s.seconds, 0);
  return {
    name: load.name,
    clients,
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    errors: stretches.reduce((sum, s) => sum + s.errors, 0),
  };
};

/**
 * `clients` connections sending back to back until `budget` requests or `seconds` (after three
 * requests each to warm up, then `warm` is called); an answer other than 200 counts as an error,
 * the first one printed.
 */
export const runLoad = async (
  load: Load,
  clients: number,
  budget: number,
  seconds: number,
  warm?: () => void,
): Promise<LoadResult> =>
  summary(load, clients, [await measure(load, clients, budget, seconds, warm)]);

/** Stretches of each load in {@link compareLoads}. */
const rounds = 6;

/**
 * Two loads measured alike for a ratio: six alternating stretches of each (a b, b a, ...) sharing
 * `seconds`, so that neither gains from running later on a machine whose speed drifts (the JIT of
 * both processes, other work).
 */
export const compareLoads = async (
  a: Load,
  b: Load,
  clients: number,
  seconds: number,
): Promise<[LoadResult, LoadResult]> => {
  const stretches: [Stretch[], Stretch[]] = [[], []];
  const stretch = (load: Load) => measure(load, clients, Infinity, seconds / rounds);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] as const : [1, 0] as const;
    for (const i of order) stretches[i].push(await stretch(i === 0 ? a : b));
  }
  return [summary(a, clients, stretches[0]), summary(b, clients, stretches[1])];
};
