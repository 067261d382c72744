// The signed-in citizen's own keys in this app (capability `kv`): invisible
// to other citizens; the same calls as the app-wide store in `kv.ts`.

import * as host from 'citadel:miniapp/citizen-kv@1.5.0';
import { decodeJson, encodeJson, kvError } from './kv-common.ts';

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (thrown) {
    throw kvError(thrown);
  }
}

/** The value stored under `key` for the signed-in citizen, if any. */
export function get(key: string): Uint8Array | undefined {
  return call(() => host.get(key));
}

/** Store `value` under `key` for the signed-in citizen. */
export function set(key: string, value: Uint8Array): void {
  call(() => host.set(key, value));
}

/** Remove `key`; true if it existed. */
export function remove(key: string): boolean {
  return call(() => host.delete(key));
}

/** As `kv.compareAndSwap`, in the citizen's namespace. */
export function compareAndSwap(key: string, expected: Uint8Array | undefined, value: Uint8Array): boolean {
  return call(() => host.compareAndSwap(key, expected, value));
}

/** As `kv.increment`, in the citizen's namespace. */
export function increment(key: string, by = 1): number {
  return Number(call(() => host.increment(key, BigInt(by))));
}

/** One page of the citizen's keys starting with `prefix`, after `after`. */
export function listKeys(prefix: string, after: string | undefined, limit: number): host.KeyPage {
  return call(() => host.listKeys(prefix, after, limit));
}

/** The JSON value stored under `key` for the citizen, if any. */
export function getJson<T>(key: string): T | undefined {
  const bytes = get(key);
  return bytes === undefined ? undefined : decodeJson<T>(key, bytes);
}

/** Store `value` as JSON under `key` for the citizen. */
export function setJson(key: string, value: unknown): void {
  set(key, encodeJson(key, value));
}
