// The bridge between the host and the SDK's plain `Request` and `Response`:
// the contract's one-call `handler` (`serveWhole`), and wasi:http resources
// (`serve`: the body read in full, the answer written in chunks with its
// length) — the Rust SDK's `serve.rs`, for componentize-js.

import {
  Fields,
  IncomingBody,
  type IncomingRequest,
  OutgoingBody,
  OutgoingResponse,
  ResponseOutparam,
  type Method as WasiMethod,
} from 'wasi:http/types@0.2.12';
import type { InputStream } from 'wasi:io/streams@0.2.12';
import type * as whole from 'citadel:miniapp/handler@1.5.0';
import { HttpError, variantOf } from './error.ts';
import { Request, type Response } from './http.ts';
import { errorResponse } from './respond.ts';
import type { Router } from './router.ts';

/** Largest chunk `blocking-write-and-flush` accepts. */
const WRITE_CHUNK = 4096;
/** How much to ask for per read of a body. */
const READ_CHUNK = 64n * 1024n;

const encoder = new TextEncoder();

/** The `incomingHandler` export of a mini-app serving `router`. */
export function serve(router: Router): {
  handle(request: IncomingRequest, responseOut: ResponseOutparam): void;
} {
  return {
    handle(incoming: IncomingRequest, responseOut: ResponseOutparam): void {
      const isHead = incoming.method().tag === 'head';
      writeResponse(answer(router, () => readRequest(incoming)), isHead, responseOut);
    },
  };
}

/**
 * The `handler` export of a mini-app serving `router`: the host hands over
 * the whole request and takes back the whole answer in one call (contract
 * 1.5.0), cheaper than wasi:http's dozen resource calls. Export it beside
 * `incomingHandler`, which hosts before 1.5 and `wasmtime serve` use.
 */
export function serveWhole(router: Router): { handle(request: whole.Request): whole.Response } {
  return {
    handle({ method, pathWithQuery, headers, body }: whole.Request): whole.Response {
      const response = answer(router, () => {
        const request = new Request(method, pathWithQuery);
        for (const [name, value] of headers) request.withHeader(name, value);
        return request.withBody(body);
      });
      // The host sets the length; a status outside 100..=599 is the app's
      // bug, answered 500 as `serve` answers it.
      const status = response.status >= 100 && response.status <= 599 ? response.status : 500;
      return {
        status,
        headers: response.headers
          .filter(([name]) => name !== 'content-length')
          .map(([name, value]) => [name, encoder.encode(value)]),
        body: method.toUpperCase() === 'HEAD' ? new Uint8Array(0) : response.body,
      };
    },
  };
}

/** What `router` answers to the request `read` gives; what either throws
 *  becomes the JSON error answer (with the request id once it is known). */
function answer(router: Router, read: () => Request): Response {
  let requestId: string | undefined;
  try {
    const request = read();
    requestId = request.requestId;
    return router.dispatch(request);
  } catch (thrown) {
    return errorResponse(thrown, requestId);
  }
}

/** The wire name of a wasi:http method. */
export function methodName(method: WasiMethod): string {
  return method.tag === 'other' ? method.val : method.tag.toUpperCase();
}

/** Drop a resource now (a stream must go before its body is finished). */
export function dispose(resource: Disposable): void {
  resource[Symbol.dispose]();
}

function readRequest(incoming: IncomingRequest): Request {
  const request = new Request(methodName(incoming.method()), incoming.pathWithQuery() ?? '/');
  const headers = incoming.headers();
  for (const [name, value] of headers.entries()) request.withHeader(name, value);
  dispose(headers);
  // A GET or HEAD that declares no length carries no content: not reading
  // it saves the instance several host calls on the commonest request.
  const bodiless = (request.method === 'GET' || request.method === 'HEAD') && request.header('content-length') === undefined;
  if (bodiless) return request;
  const body = incoming.consume();
  try {
    request.withBody(readToEnd(body.stream()));
  } catch (thrown) {
    throw HttpError.badRequest(`the request body could not be read: ${describe(thrown)}`);
  }
  dispose(IncomingBody.finish(body));
  return request;
}

/** A stream error as text. */
export function describe(thrown: unknown): string {
  try {
    const variant = variantOf(thrown);
    return variant.tag;
  } catch {
    return thrown instanceof Error ? thrown.message : String(thrown);
  }
}

/** Every byte of an input stream (a request's body here, a response's in `fetch`). */
export function readToEnd(stream: InputStream): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let chunk: Uint8Array;
    try {
      chunk = stream.blockingRead(READ_CHUNK);
    } catch (thrown) {
      if (variantOf(thrown).tag === 'closed') break;
      throw thrown;
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  dispose(stream);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

function writeResponse(response: Response, isHead: boolean, responseOut: ResponseOutparam): void {
  const entries: [string, Uint8Array][] = response.headers
    .filter(([name]) => name !== 'content-length')
    .map(([name, value]) => [name, encoder.encode(value)]);
  // The whole body is known: say its length, so clients and the host's
  // response limit see it up front. (A HEAD answer has no body to measure.)
  if (!isHead) entries.push(['content-length', encoder.encode(String(response.body.length))]);
  let fields: Fields;
  try {
    fields = Fields.fromList(entries);
  } catch {
    fields = new Fields();
  }
  const outgoing = new OutgoingResponse(fields);
  // A status outside 100..=599 is the app's bug; answer 500 rather than trap.
  try {
    outgoing.setStatusCode(response.status);
  } catch {
    outgoing.setStatusCode(500);
  }
  const body = outgoing.body();
  ResponseOutparam.set(responseOut, { tag: 'ok', val: outgoing });
  const stream = body.write();
  try {
    for (let at = 0; at < response.body.length; at += WRITE_CHUNK) {
      stream.blockingWriteAndFlush(response.body.subarray(at, at + WRITE_CHUNK));
    }
  } catch {
    // The citizen went away; nothing more to send.
    return;
  }
  dispose(stream);
  OutgoingBody.finish(body, undefined);
}
