// One reader for what a page or an API client submits — an HTML form
// (urlencoded or `multipart/form-data`, with files) or a JSON object — as
// text fields, so a handler serves both its page and its JSON API.

import { HttpError } from './error.ts';
import { parseUrlencoded, type Request } from './http.ts';

/** One field or file of a multipart form. */
export interface Part {
  /** The form field's name. */
  name: string;
  /** The file's name, for file inputs. */
  filename?: string;
  /** The part's declared type, e.g. `image/jpeg`. */
  contentType?: string;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function malformed(why: string): HttpError {
  return HttpError.badRequest(`malformed multipart body: ${why}`);
}

/** The parameter `name` of a header value such as `form-data; name="a"`. */
function parameter(value: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|;)\\s*${name}="([^"]*)"`, 'i').exec(value) ?? new RegExp(`(?:^|;)\\s*${name}=([^;\\s]*)`, 'i').exec(value);
  return match?.[1];
}

/** Whether the request's body is `multipart/form-data`. */
export function isMultipart(req: Request): boolean {
  return (req.header('content-type') ?? '').toLowerCase().startsWith('multipart/form-data');
}

/**
 * The parts of a `multipart/form-data` body, in order; 400 if it is not a
 * well-formed one with a boundary.
 */
export function multipart(req: Request): Part[] {
  const boundary = parameter(req.header('content-type') ?? '', 'boundary');
  if (!isMultipart(req) || !boundary) {
    throw HttpError.badRequest('expected a multipart/form-data body with a boundary');
  }
  const body = req.body;
  const delimiter = encoder.encode(`--${boundary}`);
  const parts: Part[] = [];
  let at = indexOf(body, delimiter, 0);
  if (at < 0) throw malformed('no boundary in the body');
  for (;;) {
    at += delimiter.length;
    if (body[at] === 0x2d && body[at + 1] === 0x2d) return parts;
    if (body[at] !== 0x0d || body[at + 1] !== 0x0a) throw malformed('a boundary is not followed by a line break');
    at += 2;
    const headEnd = indexOf(body, encoder.encode('\r\n\r\n'), at);
    if (headEnd < 0) throw malformed('a part has no end of headers');
    const next = indexOf(body, encoder.encode(`\r\n--${boundary}`), headEnd + 4);
    if (next < 0) throw malformed('incomplete stream');
    let head: string;
    try {
      head = decoder.decode(body.subarray(at, headEnd));
    } catch {
      throw malformed('a part header is not UTF-8');
    }
    const part: Part = { name: '', data: body.slice(headEnd + 4, next) };
    for (const line of head.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const key = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (key === 'content-disposition') {
        part.name = parameter(value, 'name') ?? '';
        part.filename = parameter(value, 'filename');
      } else if (key === 'content-type') {
        part.contentType = value.split(';')[0].trim();
      }
    }
    parts.push(part);
    at = next + 2;
  }
}

/** The text fields and uploaded files of a submission. */
export class Form {
  private readonly fields: [string, string][];
  /** Non-empty uploaded files, in order. */
  readonly files: Part[];

  private constructor(fields: [string, string][], files: Part[]) {
    this.fields = fields;
    this.files = files;
  }

  /**
   * Read the body by its content type: `multipart/form-data`,
   * `application/json` (an object; numbers and booleans become text, `null`
   * counts as absent), or else `application/x-www-form-urlencoded`.
   */
  static read(req: Request): Form {
    if (isMultipart(req)) {
      const fields: [string, string][] = [];
      const files: Part[] = [];
      for (const part of multipart(req)) {
        if (part.filename !== undefined) {
          // An empty file input still sends a part with no bytes.
          if (part.data.length > 0) files.push(part);
        } else {
          try {
            fields.push([part.name, decoder.decode(part.data)]);
          } catch {
            throw HttpError.badRequest(`the field \`${part.name}\` is not UTF-8`);
          }
        }
      }
      return new Form(fields, files);
    }
    if ((req.header('content-type') ?? '').startsWith('application/json')) {
      const object = req.json<unknown>();
      if (object === null || typeof object !== 'object' || Array.isArray(object)) {
        throw HttpError.badRequest('invalid JSON: expected an object');
      }
      const fields: [string, string][] = [];
      for (const [key, value] of Object.entries(object)) {
        if (value === null) continue;
        fields.push([key, typeof value === 'string' ? value : JSON.stringify(value)]);
      }
      return new Form(fields, []);
    }
    return new Form(parseUrlencoded(req.text()), []);
  }

  /** The field `name`, trimmed; `undefined` when absent or blank. */
  get(name: string): string | undefined {
    const value = this.fields.find(([key]) => key === name)?.[1].trim();
    return value === undefined || value === '' ? undefined : value;
  }

  /** The field `name`, or 422 `invalid_input` naming it. */
  required(name: string): string {
    const value = this.get(name);
    if (value === undefined) throw HttpError.invalid(`\`${name}\` is required`);
    return value;
  }

  /** The field `name` as a number, if present; 422 if it is not one. */
  number(name: string): number | undefined {
    const value = this.get(name);
    if (value === undefined) return undefined;
    const parsed = Number(value);
    if (!Number.isFinite(parsed)) throw HttpError.invalid(`\`${name}\` must be a number`);
    return parsed;
  }
}
