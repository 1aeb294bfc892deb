/** `deno task demo`: the end-to-end demonstration. */
console.error(
  "The demo is not built yet: it needs the CCF application and the sandbox (issues 3-6). " +
    "Run `deno task test` to exercise what exists.",
);
Deno.exit(1);
