// Routing by method and path pattern, as the Rust SDK's `Router`: literal
// segments, `:name` (one segment) and a final `*name` (the rest of the path);
// unknown paths get a JSON 404, known paths with another method a 405.

import { HttpError } from './error.ts';
import { Request, Response } from './http.ts';
import { errorResponse } from './respond.ts';

/** A route's handler: returns the response or throws an `HttpError`. */
export type Handler = (req: Request) => Response;

type Segment = { kind: 'literal' | 'param' | 'rest'; text: string };

interface Route {
  method: string;
  segments: Segment[];
  handler: Handler;
}

function parsePattern(pattern: string): Segment[] {
  if (!pattern.startsWith('/')) {
    throw new Error(`route pattern \`${pattern}\` must start with \`/\``);
  }
  const parts = pattern.split('/').filter((p) => p !== '');
  return parts.map((part, i) => {
    if (part.startsWith(':')) return { kind: 'param', text: part.slice(1) };
    if (part.startsWith('*')) {
      if (i + 1 !== parts.length) throw new Error(`\`${part}\` must end \`${pattern}\``);
      return { kind: 'rest', text: part.slice(1) };
    }
    return { kind: 'literal', text: part };
  });
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function matchPath(segments: Segment[], path: string): Record<string, string> | undefined {
  const trimmed = path.replace(/^\/+/, '');
  const parts = trimmed === '' ? [] : trimmed.replace(/\/+$/, '').split('/');
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment.kind === 'literal') {
      if (parts[i] !== segment.text) return undefined;
    } else if (segment.kind === 'param') {
      const value = parts[i];
      if (value === undefined || value === '') return undefined;
      params[segment.text] = decodeSegment(value);
    } else {
      params[segment.text] = decodeSegment(parts.slice(i).join('/'));
      return params;
    }
  }
  return parts.length === segments.length ? params : undefined;
}

/** Routes requests to handlers. Earlier routes win. */
export class Router {
  private readonly routes: Route[] = [];

  /** Route `method` + `pattern` to `handler`; throws on a malformed pattern. */
  route(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method: method.toUpperCase(), segments: parsePattern(pattern), handler });
    return this;
  }

  /** Route a GET (HEAD is answered by GET routes too). */
  get(pattern: string, handler: Handler): this {
    return this.route('GET', pattern, handler);
  }

  post(pattern: string, handler: Handler): this {
    return this.route('POST', pattern, handler);
  }

  put(pattern: string, handler: Handler): this {
    return this.route('PUT', pattern, handler);
  }

  patch(pattern: string, handler: Handler): this {
    return this.route('PATCH', pattern, handler);
  }

  delete(pattern: string, handler: Handler): this {
    return this.route('DELETE', pattern, handler);
  }

  /** Answer `request`: the matching handler's response, or a JSON error. */
  dispatch(request: Request): Response {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchPath(route.segments, request.path);
      if (params === undefined) continue;
      const matches = route.method === request.method || (route.method === 'GET' && request.method === 'HEAD');
      if (!matches) {
        if (!allowed.includes(route.method)) allowed.push(route.method);
        continue;
      }
      request.params = params;
      let response: Response;
      try {
        response = route.handler(request);
      } catch (thrown) {
        response = errorResponse(thrown, request.requestId);
      }
      return request.method === 'HEAD' ? response.withBody(new Uint8Array(0)) : response;
    }
    if (allowed.length === 0) {
      return errorResponse(HttpError.notFound(`no route for ${request.path}`), request.requestId);
    }
    return errorResponse(
      new HttpError(405, 'method_not_allowed', `${request.method} is not allowed here`),
      request.requestId,
    ).withHeader('allow', allowed.join(', '));
  }
}
