/**
 * Module syntax that this engine parses and CCF's QuickJS (2024-01-13) does not: regular
 * expression literals with the v flag, with modifiers such as `(?i:...)` or with a group name used
 * twice, and import attributes (`with { type: "json" }`), all from QuickJS's Changelog after
 * 2024-01-13. CCF refuses such a module when it compiles it; here it fails to load.
 *
 * QuickJS 2024-01-13 has none of the syntax ECMAScript added after 2023, so a module is refused
 * when an ECMAScript 2023 parser rejects it and the newest accepts it. A module neither accepts is
 * left to QuickJS, which reports its own error.
 */
import { parse } from "acorn";

const parses = (source: string, ecmaVersion: 2023 | "latest"): string | undefined => {
  try {
    parse(source, { ecmaVersion, sourceType: "module" });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
};

/** Why CCF's QuickJS would not parse `source` while this engine does, if so. */
export function newerSyntax(source: string): string | undefined {
  const refusal = parses(source, 2023);
  if (refusal === undefined || parses(source, "latest") !== undefined) return undefined;
  return `${refusal}: syntax newer than CCF's QuickJS (2024-01-13)`;
}
