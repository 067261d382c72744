// The one error a handler throws: an HTTP status, a stable code and a human
// message, rendered as `{"error":{"code","message","request_id"}}` like the
// host's and the Rust SDK's. Also reads the variant a failed host call throws.

/** An error a handler throws; the router answers it as JSON. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  /** For `consent_required`: the capabilities the citizen must consent to. */
  readonly consentScopes: string[];

  constructor(status: number, code: string, message: string, consentScopes: string[] = []) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.consentScopes = consentScopes;
  }

  /**
   * 428: the citizen must first consent to `scopes` (capability names such
   * as `identity.phone`) on the host's consent page. The host adds the page's
   * URL (`x-citadel-consent-url`) and the shell opens it.
   */
  static consentRequired(scopes: string[]): HttpError {
    return new HttpError(
      428,
      'consent_required',
      `this needs your consent to share: ${scopes.join(', ')}`,
      scopes,
    );
  }

  /** 400: the request is malformed. */
  static badRequest(message: string): HttpError {
    return new HttpError(400, 'bad_request', message);
  }

  /** 404: nothing here. */
  static notFound(message: string): HttpError {
    return new HttpError(404, 'not_found', message);
  }

  /** 409: the request conflicts with the current state. */
  static conflict(message: string): HttpError {
    return new HttpError(409, 'conflict', message);
  }

  /** 422: well-formed but invalid input; `message` should name the field. */
  static invalid(message: string): HttpError {
    return new HttpError(422, 'invalid_input', message);
  }

  /** 500: something went wrong inside the app. */
  static internal(message: string): HttpError {
    return new HttpError(500, 'internal', message);
  }
}

/** 401, as every interface answers a call made without a signed-in citizen. */
export function notSignedIn(message = 'sign in to Citadel to use this'): HttpError {
  return new HttpError(401, 'not_signed_in', message);
}

/** 403 for a capability the city did not grant. */
export function denied(capability: string): HttpError {
  return new HttpError(
    403,
    'capability_denied',
    `this app was not granted the \`${capability}\` capability`,
  );
}

/** A WIT variant value: `{ tag, val }`. */
export interface Variant {
  tag: string;
  val?: unknown;
}

/**
 * The error variant a host call threw (componentize-js throws a
 * `result`'s error case as an `Error` whose `payload` is the variant), or
 * rethrow what is not one: a bug in the app stays a 500 with its message.
 */
export function variantOf(thrown: unknown): Variant {
  const payload =
    thrown !== null && typeof thrown === 'object' && 'payload' in thrown
      ? (thrown as { payload: unknown }).payload
      : thrown;
  if (payload !== null && typeof payload === 'object' && 'tag' in payload) {
    return payload as Variant;
  }
  throw thrown;
}

/** The text payload of a variant case (`denied(string)` and the like). */
export function text(variant: Variant): string {
  return typeof variant.val === 'string' ? variant.val : String(variant.val ?? '');
}
