// Outbound HTTP through `wasi:http/outgoing-handler`, to the origins the
// app's `http:` capabilities name. The host checks every request (and so
// every redirect hop, which this client follows as a new request) against
// the granted origins and refuses private and loopback addresses.

import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import {
  type ErrorCode,
  Fields,
  IncomingBody,
  OutgoingBody,
  OutgoingRequest,
  type Method as WasiMethod,
  type Scheme,
} from 'wasi:http/types@0.2.12';
import { HttpError, variantOf } from './error.ts';
import { describe, dispose, readToEnd } from './serve.ts';

/** Redirects followed before giving up. */
const MAX_REDIRECTS = 5;
const WRITE_CHUNK = 4096;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** Why an outbound request failed: 502 `upstream_failed`, as the Rust SDK's. */
function failed(why: string): HttpError {
  return new HttpError(502, 'upstream_failed', why);
}

/** The error of a wasi:http `error-code`, denied or failed on the way. */
function codeError(code: ErrorCode): HttpError {
  return failed(code.tag === 'HTTP-request-denied' ? 'the host denied the request' : `the request failed: ${code.tag}`);
}

/** The error a wasi:http call threw. */
function thrownError(thrown: unknown): HttpError {
  return codeError(variantOf(thrown) as ErrorCode);
}

/** A response from another server, body read in full. */
export class FetchResponse {
  constructor(
    readonly status: number,
    readonly headers: [string, Uint8Array][],
    readonly body: Uint8Array,
    /** The URL that answered, after redirects. */
    readonly url: string,
  ) {}

  /** A header's value as text (first one, name case-insensitive). */
  header(name: string): string | undefined {
    const found = this.headers.find(([key]) => key.toLowerCase() === name.toLowerCase());
    if (!found) return undefined;
    try {
      return strictDecoder.decode(found[1]);
    } catch {
      return undefined;
    }
  }

  /** The body as text. */
  text(): string {
    return new TextDecoder().decode(this.body);
  }

  /** The body parsed as JSON; 502 `upstream_invalid` if it is not. */
  json<T = unknown>(): T {
    try {
      return JSON.parse(this.text()) as T;
    } catch (e) {
      throw new HttpError(502, 'upstream_invalid', `the upstream answer is not valid JSON: ${(e as Error).message}`);
    }
  }
}

/** Options of `send`. */
export interface FetchOptions {
  method?: string;
  headers?: [string, string][];
  body?: string | Uint8Array;
}

/** `GET url`, following redirects. */
export function get(url: string): FetchResponse {
  return send(url, {});
}

/**
 * Send a request, following redirects (a 303, or a 301/302 answer to a POST,
 * continues as a GET without body, as browsers do). Throws 502
 * `upstream_failed` when the host denies it or it fails on the way.
 */
export function send(url: string, options: FetchOptions): FetchResponse {
  let method = (options.method ?? 'GET').toUpperCase();
  let body = typeof options.body === 'string' ? encoder.encode(options.body) : (options.body ?? new Uint8Array(0));
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = sendOnce(method, current, options.headers ?? [], body);
    const location = [301, 302, 303, 307, 308].includes(response.status) ? response.header('location') : undefined;
    if (location === undefined) return response;
    if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
      method = 'GET';
      body = new Uint8Array(0);
    }
    current = resolve(current, location);
  }
  throw failed('too many redirects');
}

interface Parts {
  scheme: 'http' | 'https';
  authority: string;
  pathAndQuery: string;
}

function parse(url: string): Parts {
  const at = url.indexOf('://');
  if (at < 0) throw failed(`invalid URL: \`${url}\` is not absolute`);
  const scheme = url.slice(0, at).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') throw failed(`invalid URL: scheme \`${scheme}\` is not http(s)`);
  const rest = url.slice(at + 3);
  const split = rest.search(/[/?]/);
  const authority = split < 0 ? rest : rest.slice(0, split);
  const pathAndQuery = split < 0 ? '/' : rest.slice(split);
  if (authority === '' || authority.includes('@')) throw failed(`invalid URL: \`${url}\` has no valid host`);
  return { scheme, authority, pathAndQuery: pathAndQuery.startsWith('?') ? '/' + pathAndQuery : pathAndQuery };
}

/** The absolute URL of a `Location` relative to `base`. */
export function resolve(base: string, location: string): string {
  if (location.includes('://')) return location;
  const parts = parse(base);
  if (location.startsWith('//')) return `${parts.scheme}:${location}`;
  if (location.startsWith('/')) return `${parts.scheme}://${parts.authority}${location}`;
  const path = parts.pathAndQuery.split('?')[0];
  return `${parts.scheme}://${parts.authority}${path.slice(0, path.lastIndexOf('/') + 1)}${location}`;
}

function wasiMethod(method: string): WasiMethod {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'POST':
    case 'PUT':
    case 'PATCH':
    case 'DELETE':
    case 'OPTIONS':
      return { tag: method.toLowerCase() } as WasiMethod;
    default:
      return { tag: 'other', val: method };
  }
}

function sendOnce(method: string, url: string, headers: [string, string][], body: Uint8Array): FetchResponse {
  const parts = parse(url);
  let fields: Fields;
  try {
    fields = Fields.fromList(headers.map(([k, v]) => [k.toLowerCase(), encoder.encode(v)]));
  } catch (thrown) {
    throw failed(`a header is not acceptable: ${describe(thrown)}`);
  }
  const request = new OutgoingRequest(fields);
  const scheme: Scheme = { tag: parts.scheme === 'https' ? 'HTTPS' : 'HTTP' };
  try {
    request.setMethod(wasiMethod(method));
    request.setScheme(scheme);
    request.setAuthority(parts.authority);
    request.setPathWithQuery(parts.pathAndQuery);
  } catch {
    throw failed(`invalid URL: \`${url}\` is not acceptable`);
  }
  const outgoingBody = request.body();
  let pending;
  try {
    pending = handle(request, undefined);
  } catch (thrown) {
    throw thrownError(thrown);
  }
  const stream = outgoingBody.write();
  try {
    for (let at = 0; at < body.length; at += WRITE_CHUNK) {
      stream.blockingWriteAndFlush(body.subarray(at, at + WRITE_CHUNK));
    }
  } catch (thrown) {
    throw failed(`writing the body failed: ${describe(thrown)}`);
  }
  dispose(stream);
  try {
    OutgoingBody.finish(outgoingBody, undefined);
  } catch (thrown) {
    throw thrownError(thrown);
  }
  let result = pending.get();
  while (result === undefined) {
    const pollable = pending.subscribe();
    pollable.block();
    dispose(pollable);
    result = pending.get();
  }
  dispose(pending);
  if (result.tag === 'err') throw failed('the response was already taken');
  if (result.val.tag === 'err') throw codeError(result.val.val);
  const incoming = result.val.val;
  const status = incoming.status();
  const responseHeaders = incoming.headers();
  const entries = responseHeaders.entries();
  dispose(responseHeaders);
  const incomingBody = incoming.consume();
  let bytes: Uint8Array;
  try {
    bytes = readToEnd(incomingBody.stream());
  } catch (thrown) {
    throw failed(`reading the response failed: ${describe(thrown)}`);
  }
  dispose(IncomingBody.finish(incomingBody));
  dispose(incoming);
  return new FetchResponse(status, entries, bytes, url);
}
