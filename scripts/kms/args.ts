/**
 * The CLI's strict command-line parsing, on node:util's `parseArgs`: long options (`--name value`,
 * `--name=value`), boolean flags, one-letter aliases, `--` to end options and `-` as a positional
 * (stdin). Strictness is the point: an operator's typo must fail before anything is signed, not
 * be ignored; so repeats are refused too, and unknown options get a suggestion.
 */
import { parseArgs as parseNodeArgs } from "node:util";
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

const byName = (specs: OptionSpecs, given: string): string =>
  given.startsWith("--")
    ? given.slice(2)
    : Object.keys(specs).find((n) => specs[n].short === given.slice(1)) ?? given;

// node:util's own messages address a script's author; an operator gets ours, naming the option.
const usageErrorOf = (e: unknown, specs: OptionSpecs, command?: string): unknown => {
  const { code, message } = e as { code?: string; message?: string };
  const given = /'(-[^' ]+)/.exec(message ?? "")?.[1];
  if (given === undefined) return e;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const hint = given.startsWith("--") ? closest(given.slice(2), Object.keys(specs)) : undefined;
    return new UsageError(
      `unknown option ${given}${hint ? ` (did you mean --${hint}?)` : ""}`,
      command,
    );
  }
  if (code !== "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return e;
  const name = byName(specs, given);
  return new UsageError(
    message!.includes("does not take an argument")
      ? `--${name} is a flag and takes no value`
      : `--${name} needs a value (${specs[name]?.value ?? "VALUE"}); ` +
        `one that starts with - is given as --${name}=VALUE`,
    command,
  );
};

/**
 * Parses `args` against `specs` with node:util's strict parser. Unknown options, missing values,
 * values given to flags and options repeated are usage errors naming `command` (so the right help
 * can be shown).
 */
export const parseArgs = (
  args: readonly string[],
  specs: OptionSpecs,
  command?: string,
): ParsedArgs => {
  let parsed;
  try {
    parsed = parseNodeArgs({
      args: [...args],
      options: Object.fromEntries(
        Object.entries(specs).map((
          [name, { type, short }],
        ) => [name, short === undefined ? { type } : { type, short }]),
      ),
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (e) {
    throw usageErrorOf(e, specs, command);
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option") continue;
    if (seen.has(token.name)) {
      throw new UsageError(`--${token.name} is given more than once`, command);
    }
    seen.add(token.name);
  }
  return {
    positionals: parsed.positionals,
    options: { ...parsed.values } as Record<string, string | boolean>,
  };
};

/** A string option's value, if given. */
export const stringOption = (parsed: ParsedArgs, name: string): string | undefined => {
  const value = parsed.options[name];
  return typeof value === "string" ? value : undefined;
};

/** Whether a flag was given. */
export const flag = (parsed: ParsedArgs, name: string): boolean => parsed.options[name] === true;
