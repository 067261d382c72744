// Plain request and response values a handler works with, independent of
// the wasi:http resources (`serve.ts` converts): query, form, JSON, base
// path, request id and language helpers, as the Rust SDK's `Request`.

import { HttpError } from './error.ts';

/** An HTTP method as it appears on the wire, e.g. `GET`. */
export type Method = string;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** Decode `application/x-www-form-urlencoded` text into ordered pairs. */
export function parseUrlencoded(text: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const part of text.split('&')) {
    if (part === '') continue;
    const at = part.indexOf('=');
    const key = at < 0 ? part : part.slice(0, at);
    const value = at < 0 ? '' : part.slice(at + 1);
    pairs.push([decodeComponent(key), decodeComponent(value)]);
  }
  return pairs;
}

function decodeComponent(text: string): string {
  const spaced = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    // A malformed escape is kept as written, as the WHATWG parser does.
    return spaced;
  }
}

/** Percent-encode a path segment or query value (all but letters and digits). */
export function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*\-._~]/g, (c) =>
    '%' + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/**
 * An incoming request, its body read in full. The host has removed the
 * citizen's credentials (`Authorization`, cookies) and added
 * `x-citadel-request-id` and `x-citadel-base-path`.
 */
export class Request {
  readonly method: Method;
  /** The path inside the app, always starting with `/`. */
  readonly path: string;
  /** The raw query string, without `?`. */
  readonly queryString: string;
  /** Header names are lower-cased. */
  readonly headers: [string, Uint8Array][] = [];
  body: Uint8Array = new Uint8Array(0);
  /** Path parameters captured by the route (`:name`, `*name`). */
  params: Record<string, string> = {};

  /** Build a request (the SDK does this for you; useful in unit tests). */
  constructor(method: Method, pathWithQuery: string) {
    this.method = method.toUpperCase();
    const at = pathWithQuery.indexOf('?');
    const path = at < 0 ? pathWithQuery : pathWithQuery.slice(0, at);
    this.path = path === '' ? '/' : path;
    this.queryString = at < 0 ? '' : pathWithQuery.slice(at + 1);
  }

  /** Add a header (test helper; the name is lower-cased). */
  withHeader(name: string, value: string | Uint8Array): this {
    this.headers.push([name.toLowerCase(), typeof value === 'string' ? encoder.encode(value) : value]);
    return this;
  }

  /** Set the body (test helper). */
  withBody(body: string | Uint8Array): this {
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
    return this;
  }

  /** The first query parameter called `name`, percent-decoded. */
  query(name: string): string | undefined {
    return parseUrlencoded(this.queryString).find(([key]) => key === name)?.[1];
  }

  /** The first header called `name` (case-insensitive), if it is UTF-8. */
  header(name: string): string | undefined {
    const wanted = name.toLowerCase();
    const found = this.headers.find(([key]) => key === wanted);
    if (!found) return undefined;
    try {
      return strictDecoder.decode(found[1]);
    } catch {
      return undefined;
    }
  }

  /** A path parameter captured by the route pattern. */
  param(name: string): string | undefined {
    return this.params[name];
  }

  /** The body as UTF-8 text; 400 if it is not UTF-8. */
  text(): string {
    try {
      return strictDecoder.decode(this.body);
    } catch {
      throw HttpError.badRequest('the body is not UTF-8');
    }
  }

  /** The body parsed as JSON; 400 `bad_request` if it is not JSON. */
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text()) as T;
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw HttpError.badRequest(`invalid JSON: ${(e as Error).message}`);
    }
  }

  /** The body parsed as an HTML form (`application/x-www-form-urlencoded`). */
  form(): [string, string][] {
    return parseUrlencoded(this.text());
  }

  /** The host's id for this request, to quote in logs and support requests. */
  get requestId(): string | undefined {
    return this.header('x-citadel-request-id');
  }

  /**
   * The signed-in citizen as this app knows them: a pairwise id, stable for
   * this app and different in every other app. `undefined` if anonymous.
   */
  get citizen(): string | undefined {
    return this.header('x-citadel-citizen');
  }

  /** The signed-in citizen's pairwise id, or the standard 401. */
  requireCitizen(): string {
    const citizen = this.citizen;
    if (citizen === undefined) {
      throw new HttpError(401, 'not_signed_in', 'sign in to Citadel to do this');
    }
    return citizen;
  }

  /** The citizen's preferred language (`vi` or `en`), if signed in. */
  get locale(): string | undefined {
    return this.header('x-citadel-locale');
  }

  /**
   * The language to answer in: `en` if the query says `lang=en` or the
   * citizen prefers English, `vi` otherwise (Vietnamese is the default).
   */
  get lang(): 'vi' | 'en' {
    return (this.query('lang') ?? this.locale) === 'en' ? 'en' : 'vi';
  }

  /** Where the gateway mounts this app (`/apps/{id}`), for absolute links. */
  get basePath(): string {
    return this.header('x-citadel-base-path') ?? '';
  }

  /** Whether the caller is a browser that wants a page back, not JSON. */
  wantsHtml(): boolean {
    return (this.header('accept') ?? '').includes('text/html');
  }

  /**
   * A link to `path` inside this app (under the base path, so it stays in
   * the shell's frame), with `query` pairs percent-encoded (empty values
   * left out) and an explicit `?lang=` kept. Not yet HTML-escaped.
   */
  link(path: string, query: [string, string][] = []): string {
    const pairs = query.filter(([, value]) => value !== '').map(([key, value]) => `${key}=${encode(value)}`);
    const lang = this.query('lang');
    if (lang === 'en' || lang === 'vi') pairs.push(`lang=${lang}`);
    return `${this.basePath}${path}${pairs.length ? '?' + pairs.join('&') : ''}`;
  }

  /** This page in `lang`: the same path and query, `lang` replaced. */
  inLanguage(lang: string): string {
    const query = this.queryString.split('&').filter((pair) => pair !== '' && !pair.startsWith('lang='));
    query.push(`lang=${encode(lang)}`);
    return `${this.basePath}${this.path}?${query.join('&')}`;
  }
}

/** An outgoing response. */
export class Response {
  status: number;
  readonly headers: [string, string][] = [];
  body: Uint8Array = new Uint8Array(0);

  /** An empty response with `status`. */
  constructor(status = 200) {
    this.status = status;
  }

  /** 200 with a UTF-8 plain-text body. */
  static text(body: string): Response {
    return new Response(200).withHeader('content-type', 'text/plain; charset=utf-8').withBody(body);
  }

  /** 200 with an HTML body. */
  static html(body: string): Response {
    return new Response(200).withHeader('content-type', 'text/html; charset=utf-8').withBody(body);
  }

  /** 200 with `value` serialised as JSON. */
  static json(value: unknown): Response {
    return new Response(200).withHeader('content-type', 'application/json').withBody(JSON.stringify(value));
  }

  /** 303 See Other to `location` (after a form post). */
  static redirect(location: string): Response {
    return new Response(303).withHeader('location', location);
  }

  /** Change the status. */
  withStatus(status: number): this {
    this.status = status;
    return this;
  }

  /** Add a header (the name is lower-cased). */
  withHeader(name: string, value: string): this {
    this.headers.push([name.toLowerCase(), value]);
    return this;
  }

  /** Replace the body. */
  withBody(body: string | Uint8Array): this {
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
    return this;
  }

  /** The first header called `name`. */
  header(name: string): string | undefined {
    const wanted = name.toLowerCase();
    return this.headers.find(([key]) => key === wanted)?.[1];
  }
}
