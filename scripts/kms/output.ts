/**
 * Where the CLI writes: results to stdout (so they can be piped), progress, warnings and errors to
 * stderr. Secrets the CLI holds (tokens, private keys) are registered here and masked in every
 * line, as a last line of defence should a service or library echo one back.
 */

/** The CLI's two text streams, one line per call. */
export interface Streams {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
}

/** Writing for the operator. */
export interface Output {
  /** A result line (stdout). */
  result(line: string): void;
  /** A line about something slow that is starting (stderr). */
  progress(line: string): void;
  /** A warning (stderr). */
  warn(line: string): void;
  /** An error (stderr). */
  error(line: string): void;
  /** A hint after an error, such as where help is (stderr). */
  note(line: string): void;
  /** Masks `secret` (and each of its lines) from now on. */
  addSecret(secret: string): void;
}

/** The smallest fragment of a secret that is masked (shorter ones would mask ordinary text). */
const minSecretLength = 12;

/** Streams writing to the process's stdout and stderr. */
export const processStreams: Streams = {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
};

/** An {@link Output} over `streams`. */
export const createOutput = (streams: Streams = processStreams): Output => {
  const secrets: string[] = [];
  const mask = (line: string): string =>
    secrets.reduce((text, secret) => text.split(secret).join("[redacted]"), line);
  return {
    result: (line) => streams.stdout(mask(line)),
    progress: (line) => streams.stderr(mask(`... ${line}`)),
    warn: (line) => streams.stderr(mask(`warning: ${line}`)),
    error: (line) => streams.stderr(mask(`error: ${line}`)),
    note: (line) => streams.stderr(mask(line)),
    addSecret: (secret) => {
      // A PEM or a token may be echoed line by line or in part; each long line is masked alone.
      const parts = [secret.trim(), ...secret.split(/\r?\n/).map((l) => l.trim())]
        .filter((p) => p.length >= minSecretLength && !p.startsWith("-----"));
      for (const part of parts) if (!secrets.includes(part)) secrets.push(part);
      secrets.sort((a, b) => b.length - a.length);
    },
  };
};
