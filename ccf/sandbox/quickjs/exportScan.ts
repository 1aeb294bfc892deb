/**
 * Which exports of a module CCF can call as endpoint handlers.
 *
 * CCF finds a handler by walking the module's export entries and reading the entry's local
 * variable (its `quickjs-exports.c` patch). That works for QuickJS's *local* export entries only:
 * `export function f`, `export const f`, `export default`, `export { f as g }` (also when `f` was
 * imported: QuickJS records that as a local entry bound to the import). An `export { f } from "m"`
 * or `export * as f from "m"` entry is *indirect* (CCF would read an unset variable), and names
 * that come from `export * from "m"` have no entry at all ("Failed to find export"). QuickJS's
 * module namespace object hides the difference, so the runtime decides in two steps:
 *
 * 1. QuickJS itself says whether the name has an explicit export entry: the module is compiled
 *    (not run) with `export { probe as <name> }` appended ({@link probeSource}); QuickJS rejects
 *    that with "duplicate exported name" exactly when an entry with that name exists.
 * 2. A small tokenizer ({@link indirectExportNames}) finds the names of `export {...} from` and
 *    `export * as x from` statements; an entry with such a name is indirect.
 */

/** Name of the variable the probe declares; unlikely to clash with app code. */
const PROBE_VARIABLE = "__ccf_sandbox_export_probe__";

/** Message prefix of QuickJS's SyntaxError for an export name declared twice. */
export const DUPLICATE_EXPORT = "duplicate exported name";

const IDENTIFIER_NAME = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;

/** `source` with an export of `name` appended; compiles iff `name` has no export entry. */
export function probeSource(source: string, name: string): string {
  const exported = IDENTIFIER_NAME.test(name) ? name : JSON.stringify(name);
  return `${source}\n;var ${PROBE_VARIABLE};export { ${PROBE_VARIABLE} as ${exported} };\n`;
}

type TokenKind = "name" | "string" | "punct" | "number" | "template" | "regex";

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  /** Decoded value of a string literal. */
  readonly value?: string;
  /** Number of brackets (and template substitutions) open before the token. */
  readonly depth: number;
}

type Lexeme = Omit<Token, "depth">;

const KEYWORDS_BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
  "extends",
]);

const PAREN_KEYWORDS = new Set(["if", "while", "for", "with"]);

const PUNCTUATORS = [
  ">>>=",
  "...",
  "===",
  "!==",
  "**=",
  "<<=",
  ">>=",
  ">>>",
  "&&=",
  "||=",
  "??=",
  "=>",
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  "??",
  "?.",
  "++",
  "--",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "**",
  "<<",
  ">>",
];

const NUMBER =
  /(?:0[xXoObB][\da-fA-F_]+|\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?|\.\d[\d_]*(?:[eE][+-]?\d+)?)n?/y;
const NAME =
  /(?:[\p{ID_Start}$_]|\\u[\da-fA-F{])(?:[\p{ID_Continue}$\u200c\u200d]|\\u[\da-fA-F{}]+)*/uy;

const LINE_END = /[\n\r\u2028\u2029]/g;

const nameLength = (src: string, at: number): number => {
  NAME.lastIndex = at;
  return NAME.test(src) ? NAME.lastIndex - at : 0;
};

const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v" };

const decodeString = (body: string): string =>
  body.replace(
    /\\(u\{[\da-fA-F]+\}|u[\da-fA-F]{4}|x[\da-fA-F]{2}|\r\n|[\s\S])/g,
    (_, e: string) => {
      if (e[0] === "u" || e[0] === "x") {
        return String.fromCodePoint(parseInt(e.replace(/[ux{}]/g, ""), 16));
      }
      if (e === "\n" || e === "\r" || e === "\r\n" || e === "\u2028" || e === "\u2029") return "";
      return ESCAPES[e] ?? e;
    },
  );

/**
 * Splits module source into tokens, skipping comments and whitespace. Regular expression literals
 * are told from division by the previous token, the way JavaScript lexers outside a full parser
 * do; template literals are tracked with their `${...}` nesting.
 */
function* tokenize(src: string): Generator<Token> {
  let i = src.startsWith("#!") ? src.indexOf("\n") >>> 0 : 0;
  let prev: Lexeme | undefined;
  // One entry per open bracket: for "(" whether a keyword precedes it, for "{" whether it opens
  // an expression (object literal) or a template substitution.
  const stack: Array<{ open: string; keywordParen?: boolean; expression?: boolean }> = [];
  let closedKeywordParen = false;
  let closedBlock = false;

  const regexAllowed = (): boolean => {
    if (!prev) return true;
    if (prev.kind === "name") return KEYWORDS_BEFORE_EXPRESSION.has(prev.text);
    if (prev.kind !== "punct") return false;
    if (prev.text === ")") return closedKeywordParen;
    if (prev.text === "}") return closedBlock;
    return prev.text !== "]" && prev.text !== "++" && prev.text !== "--";
  };

  const braceIsExpression = (): boolean => {
    if (!prev) return false;
    if (prev.kind === "name") return KEYWORDS_BEFORE_EXPRESSION.has(prev.text);
    if (prev.kind !== "punct") return false;
    return !["=>", ")", ";", "{", "}", "]"].includes(prev.text);
  };

  const scanTemplate = (start: number): number => {
    let j = start;
    while (j < src.length) {
      const c = src[j];
      if (c === "\\") j += 2;
      else if (c === "`") return j + 1;
      else if (c === "$" && src[j + 1] === "{") {
        stack.push({ open: "${" });
        return j + 2;
      } else j++;
    }
    return j;
  };

  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "/") {
      LINE_END.lastIndex = i;
      i = LINE_END.exec(src)?.index ?? src.length;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? src.length : end + 2;
      continue;
    }
    let tok: Lexeme;
    const start = i;
    const depth = stack.length;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      tok = { kind: "string", text: src.slice(i, j + 1), value: decodeString(src.slice(i + 1, j)) };
      i = j + 1;
    } else if (c === "`") {
      i = scanTemplate(i + 1);
      tok = { kind: "template", text: src.slice(start, i) };
    } else if (c === "}" && stack.at(-1)?.open === "${") {
      stack.pop();
      i = scanTemplate(i + 1);
      tok = { kind: "template", text: src.slice(start, i) };
    } else if (c === "/" && regexAllowed()) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && (inClass || src[j] !== "/") && src[j] !== "\n") {
        if (src[j] === "\\") j++;
        else if (src[j] === "[") inClass = true;
        else if (src[j] === "]") inClass = false;
        j++;
      }
      j++;
      while (j < src.length && /[\w$]/.test(src[j])) j++;
      tok = { kind: "regex", text: src.slice(i, j) };
      i = j;
    } else if (/[\d]/.test(c) || (c === "." && /\d/.test(src[i + 1] ?? ""))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(src);
      i += m ? m[0].length : 1;
      tok = { kind: "number", text: src.slice(start, i) };
    } else if (c === "#" || nameLength(src, i) > 0) {
      i += c === "#" ? 1 + nameLength(src, i + 1) : nameLength(src, i);
      tok = { kind: "name", text: src.slice(start, i) };
    } else {
      const p = PUNCTUATORS.find((q) =>
        src.startsWith(q, i) && !(q === "?." && /\d/.test(src[i + 2] ?? ""))
      );
      tok = { kind: "punct", text: p ?? c };
      i += tok.text.length;
      closedKeywordParen = false;
      closedBlock = false;
      if (tok.text === "(") {
        stack.push({
          open: "(",
          keywordParen: prev?.kind === "name" && PAREN_KEYWORDS.has(prev.text),
        });
      } else if (tok.text === "{") {
        stack.push({ open: "{", expression: braceIsExpression() });
      } else if (tok.text === "[") {
        stack.push({ open: "[" });
      } else if (tok.text === ")" || tok.text === "}" || tok.text === "]") {
        const top = stack.pop();
        closedKeywordParen = top?.keywordParen === true;
        closedBlock = tok.text === "}" && top?.expression !== true;
      }
    }
    prev = tok;
    yield { ...tok, depth };
  }
}

/**
 * Export names that `export { a as b } from "m"` and `export * as x from "m"` statements of the
 * module's top level declare: QuickJS's indirect export entries.
 */
export function indirectExportNames(source: string): Set<string> {
  const tokens = [...tokenize(source)];
  const names = new Set<string>();
  const nameOf = (t: Token | undefined) =>
    t?.kind === "name" ? t.text : t?.kind === "string" ? t.value : undefined;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const before = tokens[i - 1];
    if (
      t.kind !== "name" || t.text !== "export" || t.depth !== 0 ||
      (before?.kind === "punct" && (before.text === "." || before.text === "?."))
    ) continue;
    const next = tokens[i + 1];
    if (next?.text === "*" && tokens[i + 2]?.text === "as") {
      const exported = nameOf(tokens[i + 3]);
      if (exported !== undefined && tokens[i + 4]?.text === "from") names.add(exported);
      continue;
    }
    if (next?.text !== "{") continue;
    const clause: string[] = [];
    let j = i + 2;
    while (j < tokens.length && tokens[j].text !== "}") {
      const local = nameOf(tokens[j]);
      if (local === undefined) break;
      if (tokens[j + 1]?.text === "as") {
        const exported = nameOf(tokens[j + 2]);
        if (exported === undefined) break;
        clause.push(exported);
        j += 3;
      } else {
        clause.push(local);
        j += 1;
      }
      if (tokens[j]?.text === ",") j++;
    }
    if (tokens[j]?.text === "}" && tokens[j + 1]?.text === "from") {
      for (const n of clause) names.add(n);
    }
  }
  return names;
}
