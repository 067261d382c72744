// What the app-wide and the per-citizen stores share: how their errors
// become `HttpError`s (the Rust SDK's codes) and how values are JSON. No
// host interface is imported here, so each store imports only its own.

import { denied, HttpError, text, variantOf } from './error.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The `HttpError` of a failed kv or citizen-kv call (shared by both stores). */
export function kvError(thrown: unknown): HttpError {
  const error = variantOf(thrown);
  switch (error.tag) {
    case 'not-signed-in':
      return new HttpError(401, 'not_signed_in', 'sign in to Citadel to use this');
    case 'denied':
      return denied(text(error));
    case 'invalid-key':
      return new HttpError(400, 'invalid_key', text(error));
    case 'value-too-large':
      return new HttpError(413, 'value_too_large', `the value exceeds the store's limit of ${text(error)} bytes`);
    case 'quota-exceeded':
      return new HttpError(507, 'quota_exceeded', text(error));
    default:
      return new HttpError(503, 'storage_unavailable', text(error));
  }
}

/** The bytes of `value` as JSON. */
export function encodeJson(key: string, value: unknown): Uint8Array {
  const json = JSON.stringify(value);
  if (json === undefined) throw HttpError.internal(`could not serialise \`${key}\``);
  return encoder.encode(json);
}

/** The JSON value in `bytes` stored under `key`. */
export function decodeJson<T>(key: string, bytes: Uint8Array): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (e) {
    throw HttpError.internal(`stored value under \`${key}\` is not valid JSON: ${(e as Error).message}`);
  }
}
