/**
 * The node's log file (`sandbox_0/out`), bounded in size: when a line would take the file past
 * `maxBytes`, `out` becomes `out.1` (older files shift to `out.2` ... `out.<keep>`, the oldest is
 * deleted) and a new `out` begins. Written synchronously, line by line, so that a kill -9 loses no
 * line already logged; a stream-based rotating logger would buffer and lose them, hence this small
 * module rather than an npm one.
 */

/** Where the log goes and how much of it is kept. */
export interface LogFileOptions {
  /** The current file; rotated ones are `<path>.1` (newest) to `<path>.<keep>` (oldest). */
  readonly path: string;
  /** Size at which the current file is rotated. */
  readonly maxBytes: number;
  /** How many rotated files are kept beside the current one. */
  readonly keep: number;
}

/** An open, rotating log file. */
export interface LogFile {
  /** Appends one line (a newline is added). */
  write(line: string): void;
  /** Closes the current file. */
  close(): void;
}

/** 16 MiB a file and four rotated files: at most 80 MiB of log, the newest lines always kept. */
export const DEFAULT_LOG_RETENTION = { maxBytes: 16 * 1024 * 1024, keep: 4 } as const;

const removeIfPresent = (path: string) => {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
};

const renameIfPresent = (from: string, to: string) => {
  try {
    Deno.renameSync(from, to);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
};

const open = (path: string) => Deno.openSync(path, { append: true, create: true, mode: 0o600 });

/** Opens (appending to) the log at `options.path`, rotating it as it grows. */
export const openLogFile = (options: LogFileOptions): LogFile => {
  const { path, maxBytes, keep } = options;
  const encoder = new TextEncoder();
  let file = open(path);
  let size = file.statSync().size;

  const rotate = () => {
    file.close();
    removeIfPresent(`${path}.${keep}`);
    for (let i = keep - 1; i >= 1; i--) renameIfPresent(`${path}.${i}`, `${path}.${i + 1}`);
    if (keep > 0) renameIfPresent(path, `${path}.1`);
    else removeIfPresent(path);
    file = open(path);
    size = 0;
  };

  return {
    write(line) {
      const bytes = encoder.encode(`${line}\n`);
      if (size > 0 && size + bytes.length > maxBytes) rotate();
      for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
      size += bytes.length;
    },
    close: () => file.close(),
  };
};
