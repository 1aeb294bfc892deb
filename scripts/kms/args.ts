/**
 * A small, strict command-line parser: long options (`--name value`, `--name=value`), boolean
 * flags, one-letter aliases, `--` to end options and `-` as a positional (stdin). Strictness is
 * the point: an operator's typo must fail before anything is signed, not be ignored.
 */
import { UsageError } from "./errors.ts";

/** One option a command accepts. */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  /** A one-letter alias, without the dash. */
  readonly short?: string;
  /** The placeholder shown in help for a string option, e.g. `FILE`. */
  readonly value?: string;
  readonly description: string;
}

/** Options by long name (without the dashes). */
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** What {@link parseArgs} found. */
export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly options: Readonly<Record<string, string | boolean>>;
}

const closest = (name: string, names: readonly string[]): string | undefined => {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = current;
      }
    }
    return row[b.length];
  };
  const best = names
    .map((n) => ({ n, d: distance(name, n) }))
    .sort((x, y) => x.d - y.d)[0];
  return best !== undefined && best.d <= Math.max(2, Math.floor(name.length / 3))
    ? best.n
    : undefined;
};

/**
 * Parses `args` against `specs`. Unknown options, missing values, values given to flags and
 * options repeated are usage errors naming `command` (so the right help can be shown).
 */
export const parseArgs = (
  args: readonly string[],
  specs: OptionSpecs,
  command?: string,
): ParsedArgs => {
  const names = Object.keys(specs);
  const byShort = new Map(
    Object.entries(specs).flatMap(([name, spec]) => spec.short ? [[spec.short, name]] : []),
  );
  const positionals: string[] = [];
  const options: Record<string, string | boolean> = {};
  const set = (name: string, value: string | boolean) => {
    if (name in options) throw new UsageError(`--${name} is given more than once`, command);
    options[name] = value;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const eq = long ? arg.indexOf("=") : -1;
    const given = long ? arg.slice(2, eq < 0 ? undefined : eq) : arg.slice(1);
    const name = long ? given : byShort.get(given);
    const spec = name === undefined ? undefined : specs[name];
    if (name === undefined || spec === undefined) {
      const hint = long ? closest(given, names) : undefined;
      throw new UsageError(
        `unknown option ${arg.split("=")[0]}${hint ? ` (did you mean --${hint}?)` : ""}`,
        command,
      );
    }
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`--${name} is a flag and takes no value`, command);
      set(name, true);
      continue;
    }
    if (eq >= 0) {
      set(name, arg.slice(eq + 1));
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || (value.startsWith("--") && value.length > 2)) {
      throw new UsageError(`--${name} needs a value (${spec.value ?? "VALUE"})`, command);
    }
    set(name, value);
    i++;
  }
  return { positionals, options };
};

/** A string option's value, if given. */
export const stringOption = (parsed: ParsedArgs, name: string): string | undefined => {
  const value = parsed.options[name];
  return typeof value === "string" ? value : undefined;
};

/** Whether a flag was given. */
export const flag = (parsed: ParsedArgs, name: string): boolean => parsed.options[name] === true;
