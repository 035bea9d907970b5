import type { Result, Router } from 'hono/router';
import { TrieRouter } from 'hono/router/trie-router';

/**
 * Hono's TrieRouter, with the match of each path that names a route without parameters (such as
 * `POST /v1/verify/mark`) worked out once and kept until a route is added (sub-applications
 * mounted with `app.route` add theirs here too). A match is only read by Hono, never changed, so
 * requests share it; the trie walk it saves allocated a few kilobytes a request (its handler lists,
 * sorted anew each time), on the hottest route too.
 *
 * (The faster RegExpRouter cannot hold this application's table: a literal segment beside a
 * parameter, as in `/v1/certificates/imports` and `/v1/certificates/{id}`, which the SPEC's paths
 * need, is outside what one regular expression can order.) Only such paths are kept: however many
 * other paths clients send, what is kept is bounded by the routes times the methods Node parses.
 *
 * @example new OpenAPIHono({ router: new StaticPathRouter() })
 */
export class StaticPathRouter<T> implements Router<T> {
  readonly name = 'StaticPathRouter';
  readonly #trie = new TrieRouter<T>();
  /** The paths of routes without parameters or wildcards. */
  readonly #staticPaths = new Set<string>();
  readonly #matches = new Map<string, Result<T>>();

  add(method: string, path: string, handler: T): void {
    this.#trie.add(method, path, handler);
    if (!/[:*]/.test(path)) this.#staticPaths.add(path);
    this.#matches.clear();
  }

  match(method: string, path: string): Result<T> {
    if (!this.#staticPaths.has(path)) return this.#trie.match(method, path);
    const key = `${method} ${path}`;
    let match = this.#matches.get(key);
    if (!match) {
      match = this.#trie.match(method, path);
      this.#matches.set(key, match);
    }
    return match;
  }
}
