// How a thrown error becomes the JSON answer: an `HttpError` as it says, the
// 428 consent answer with its `x-citadel-consent` header, anything else a
// 500 `internal` (logged to the host's logs through stderr).

import { HttpError } from './error.ts';
import { Response } from './http.ts';

/** The JSON error response for what a handler threw. */
export function errorResponse(thrown: unknown, requestId: string | undefined): Response {
  let error: HttpError;
  if (thrown instanceof HttpError) {
    error = thrown;
  } else {
    const why = thrown instanceof Error ? thrown.message : String(thrown);
    console.error(`unhandled error: ${why}`);
    error = HttpError.internal(why);
  }
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (requestId !== undefined) body.request_id = requestId;
  const response = new Response(error.status).withHeader('content-type', 'application/json');
  if (error.consentScopes.length > 0) {
    body.scopes = error.consentScopes;
    response.withHeader('x-citadel-consent', error.consentScopes.join(','));
  }
  return response.withBody(JSON.stringify({ error: body }));
}
