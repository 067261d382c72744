// The city's map data (capability `geo`): search places by name ignoring
// diacritics, the nearest places to a point, places in a box, reverse
// geocoding to a ward, the units that handle reports and how a report routes.

import * as host from 'citadel:miniapp/geo@1.5.0';
import { denied, HttpError, text, variantOf } from './error.ts';

export type { Category, Nearby, Place, Point, Routing, Unit, Ward, WardShape } from 'citadel:miniapp/geo@1.5.0';

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (thrown) {
    const error = variantOf(thrown);
    throw error.tag === 'denied' ? denied(text(error)) : HttpError.invalid(text(error));
  }
}

/** A point from latitude and longitude in degrees. */
export function point(lat: number, lon: number): host.Point {
  return { lat, lon };
}

/** Places whose name holds every word of `text`, best first (`limit` 0 means 20). */
export function search(query: string, category?: string, limit = 0): host.Place[] {
  return call(() => host.search(query, category, limit));
}

/** The `k` places nearest to `at` (at most 100), nearest first. */
export function nearest(at: host.Point, k: number, category?: string): host.Nearby[] {
  return call(() => host.nearest(at, k, category));
}

/** Places inside the box from `southWest` to `northEast`. */
export function within(southWest: host.Point, northEast: host.Point, category: string | undefined, limit: number): host.Place[] {
  return call(() => host.within(southWest, northEast, category, limit));
}

/** The place with this id. */
export function place(id: string): host.Place | undefined {
  return call(() => host.getPlace(id));
}

/** The ward a point lies in, if any. */
export function wardAt(at: host.Point): host.Ward | undefined {
  return call(() => host.wardAt(at));
}

/** Every ward with its outline. */
export function wards(): host.WardShape[] {
  return call(() => host.wards());
}

/** The categories of places (`heritage`, `health`, `bus-stop`, …). */
export function placeCategories(): host.Category[] {
  return call(() => host.placeCategories());
}

/** The categories of citizens' reports. */
export function reportCategories(): host.Category[] {
  return call(() => host.reportCategories());
}

/** Every unit that handles reports. */
export function units(): host.Unit[] {
  return call(() => host.units());
}

/** The unit that handles a report of `category` at `at`, with its deadline. */
export function routeReport(category: string, at: host.Point): host.Routing {
  return call(() => host.routeReport(category, at));
}

/** The map tile URL template the operator configured, if any. */
export function tileUrl(): string | undefined {
  return call(() => host.tileUrl());
}

/** A category's name in `lang` (`en`, else Vietnamese). */
export function categoryName(category: host.Category, lang: string): string {
  return lang === 'en' ? category.nameEn : category.nameVi;
}
