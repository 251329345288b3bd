/**
 * The emulator's route table: each Batch operation once, as `METHOD /path/{param}` with
 * its operation name (as in Batch's REST reference) and handler. A path that matches no
 * route is 400 `InvalidUri`; a known path with another verb is 405 `UnsupportedHttpVerb`,
 * as the service answers.
 */

/** What a handler gets: the decoded path parameters and the request. */
export interface RouteRequest<C> {
  readonly params: Readonly<Record<string, string>>;
  readonly ctx: C;
}

/** One operation: verb, path template (`{name}` one segment, `{*name}` the rest), name, handler. */
export interface Route<C, R> {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  /** Batch's operation name, e.g. `Pool_Resize`: counted in the records, used by fault plans. */
  readonly op: string;
  readonly run: (req: RouteRequest<C>) => R | Promise<R>;
}

type Segment = { literal: string } | { param: string; rest: boolean };

interface Compiled<C, R> {
  readonly route: Route<C, R>;
  readonly segments: readonly Segment[];
}

/** The outcome of a lookup: a route and its parameters, a path without that verb, or nothing. */
export type RouteMatch<C, R> =
  | { kind: 'found'; route: Route<C, R>; params: Record<string, string> }
  | { kind: 'wrongVerb'; allowed: string[] }
  | { kind: 'none' };

/** A compiled route table. */
export class Router<C, R> {
  private readonly compiled: Compiled<C, R>[];

  constructor(routes: readonly Route<C, R>[]) {
    this.compiled = routes.map((route) => ({
      route,
      segments: route.path
        .split('/')
        .filter(Boolean)
        .map((s): Segment => {
          const m = /^\{(\*?)([A-Za-z]+)\}$/.exec(s);
          return m ? { param: m[2]!, rest: m[1] === '*' } : { literal: s.toLowerCase() };
        }),
    }));
    const seen = new Set<string>();
    for (const r of routes) {
      const key = `${r.method} ${r.path.toLowerCase()}`;
      if (seen.has(key)) throw new Error(`duplicate route ${key}`);
      seen.add(key);
    }
  }

  /** Every route, in table order (for documentation and tests). */
  get routes(): readonly Route<C, R>[] {
    return this.compiled.map((c) => c.route);
  }

  /** Finds the route for a verb and decoded path segments (literals compare case-insensitively). */
  match(method: string, parts: readonly string[]): RouteMatch<C, R> {
    const allowed: string[] = [];
    for (const c of this.compiled) {
      const params = matchSegments(c.segments, parts);
      if (!params) continue;
      if (c.route.method === method) return { kind: 'found', route: c.route, params };
      allowed.push(c.route.method);
    }
    return allowed.length ? { kind: 'wrongVerb', allowed } : { kind: 'none' };
  }
}

function matchSegments(
  segments: readonly Segment[],
  parts: readonly string[],
): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if ('literal' in s) {
      if (parts[i]?.toLowerCase() !== s.literal) return undefined;
    } else if (s.rest) {
      if (i >= parts.length) return undefined;
      params[s.param] = parts.slice(i).join('/');
      return params;
    } else {
      if (parts[i] === undefined || parts[i] === '') return undefined;
      params[s.param] = parts[i]!;
    }
  }
  return parts.length === segments.length ? params : undefined;
}
