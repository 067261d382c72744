// App-wide key-value storage (capability `kv`): keys are UTF-8 strings,
// values bytes, with JSON helpers, compare-and-swap and counters. Each app
// sees only its own keys. Errors become the Rust SDK's `HttpError`s.

import * as host from 'citadel:miniapp/kv@1.5.0';
import { HttpError } from './error.ts';
import { decodeJson, encodeJson, kvError } from './kv-common.ts';

export type { KeyPage } from 'citadel:miniapp/kv@1.5.0';

/** Run a host call, turning its error into an `HttpError`. */
function call<T>(f: () => T): T {
  try {
    return f();
  } catch (thrown) {
    throw kvError(thrown);
  }
}

/** Page size used by `keys`. */
const PAGE = 1000;
/** Attempts `updateJson` makes before giving up with 409. */
const UPDATE_ATTEMPTS = 16;

/** The value stored under `key`, if any. */
export function get(key: string): Uint8Array | undefined {
  return call(() => host.get(key));
}

/** Store `value` under `key`. */
export function set(key: string, value: Uint8Array): void {
  call(() => host.set(key, value));
}

/** Remove `key`; true if it existed. */
export function remove(key: string): boolean {
  return call(() => host.delete(key));
}

/**
 * Store `value` under `key` only if it holds exactly `expected` now
 * (`undefined`: only if absent), atomically; false if another request
 * changed it first.
 */
export function compareAndSwap(key: string, expected: Uint8Array | undefined, value: Uint8Array): boolean {
  return call(() => host.compareAndSwap(key, expected, value));
}

/** Add `by` to the counter `key` atomically; the new value. */
export function increment(key: string, by = 1): number {
  return Number(call(() => host.increment(key, BigInt(by))));
}

/** The next number of the counter `key` (1, 2, 3, …), taken atomically. */
export function nextNumber(key: string): number {
  return increment(key, 1);
}

/** One page of keys starting with `prefix`, after `after` (exclusive). */
export function listKeys(prefix: string, after: string | undefined, limit: number): host.KeyPage {
  return call(() => host.listKeys(prefix, after, limit));
}

/** Every key starting with `prefix`, in order (reads page after page). */
export function keys(prefix: string): string[] {
  const all: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = listKeys(prefix, after, PAGE);
    all.push(...page.keys);
    if (page.next === undefined) return all;
    after = page.next;
  }
}

/** The JSON value stored under `key`, if any. */
export function getJson<T>(key: string): T | undefined {
  const bytes = get(key);
  return bytes === undefined ? undefined : decodeJson<T>(key, bytes);
}

/** Store `value` as JSON under `key`. */
export function setJson(key: string, value: unknown): void {
  set(key, encodeJson(key, value));
}

/** Store `value` as JSON under `key` only if the key is absent; false if it exists. */
export function insertNewJson(key: string, value: unknown): boolean {
  return compareAndSwap(key, undefined, encodeJson(key, value));
}

/**
 * Read-modify-write `key` as JSON without losing a concurrent write:
 * `change` gets the current value (if any) and returns the new one, or
 * throws to leave the key as it was. If another request wrote the key in
 * between, `change` runs again on the fresh value.
 */
export function updateJson<T>(key: string, change: (current: T | undefined) => T): T {
  for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
    const current = get(key);
    const next = change(current === undefined ? undefined : decodeJson<T>(key, current));
    if (compareAndSwap(key, current, encodeJson(key, next))) return next;
  }
  throw new HttpError(409, 'write_conflict', `\`${key}\` kept changing under this request; try again`);
}
