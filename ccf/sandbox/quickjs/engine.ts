/**
 * The QuickJS WebAssembly instances the runtime runs on, and recovery when one breaks.
 *
 * QuickJS checks its own stack only against its shadow stack in linear memory; its C frames live
 * on the host's (V8's) native stack. App code that recurses deeply enough through paths that use
 * little shadow stack (JSON.stringify of a deeply nested object, for one) overflows the host stack
 * first: the host throws out of the middle of QuickJS and that instance is left inconsistent (even
 * freeing it aborts). CCF answers such a request with a 500; so does the sandbox, after switching
 * to a spare instance that is kept loaded for that purpose. The broken instance is abandoned.
 */
import { newQuickJSWASMModule, type QuickJSWASMModule } from "quickjs-emscripten";

/** The current QuickJS instance plus a loaded spare. */
export class QuickJSEngine {
  #current: QuickJSWASMModule | undefined;
  #spare: QuickJSWASMModule | undefined;
  #loading: Promise<void> | undefined;

  private constructor(current: QuickJSWASMModule, spare: QuickJSWASMModule) {
    this.#current = current;
    this.#spare = spare;
  }

  /** Loads two instances (the `.wasm` file ships inside the npm package; nothing is fetched). */
  static async create(): Promise<QuickJSEngine> {
    const [a, b] = await Promise.all([newQuickJSWASMModule(), newQuickJSWASMModule()]);
    return new QuickJSEngine(a, b);
  }

  /** The instance to create interpreters on; throws while no healthy instance is loaded. */
  get module(): QuickJSWASMModule {
    if (!this.#current) throw new Error("QuickJS engine is reloading after a failure");
    return this.#current;
  }

  /** Retires `broken` (if still current), promotes the spare and loads a new spare. */
  retire(broken: QuickJSWASMModule): void {
    if (broken !== this.#current) return;
    this.#current = this.#spare;
    this.#spare = undefined;
    this.#loading ??= newQuickJSWASMModule().then((m) => {
      this.#loading = undefined;
      if (this.#current) this.#spare = m;
      else this.#current = m;
    });
  }

  /** Resolves once a spare is loaded again (tests use it after provoking a failure). */
  async ready(): Promise<void> {
    while (this.#loading) await this.#loading;
  }
}

let shared: Promise<QuickJSEngine> | undefined;

/** The engine shared by every app runtime of this process. */
export const sharedEngine = (): Promise<QuickJSEngine> => (shared ??= QuickJSEngine.create());
