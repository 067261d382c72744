// The car parks: where they are comes from the city's map data (`geo`,
// category `parking`); what the operator runs there — spaces and the hourly
// price — is this table; the free spaces staff report live in kv.

import { HttpError } from '@citadel/sdk';
import * as geo from '@citadel/sdk/geo';
import type { Nearby, Place } from '@citadel/sdk/geo';
import * as kv from '@citadel/sdk/kv';

/** The map category of car parks. */
export const CATEGORY = 'parking';
/** The city unit whose staff report free spaces. */
export const STAFF_UNIT = 'baidoxe-hue';

/** Spaces and the hourly price (VND) of each car park the centre runs. */
const OPERATED: Record<string, { capacity: number; pricePerHour: number }> = {
  'bai-do-xe-hien-nhon': { capacity: 120, pricePerHour: 15000 },
  'bai-do-xe-phu-van-lau': { capacity: 80, pricePerHour: 15000 },
  'bai-do-xe-cho-dong-ba': { capacity: 150, pricePerHour: 10000 },
  'bai-do-xe-le-loi': { capacity: 60, pricePerHour: 15000 },
  'bai-do-xe-nguyen-dinh-chieu': { capacity: 40, pricePerHour: 20000 },
  'bai-do-xe-ga-hue': { capacity: 100, pricePerHour: 10000 },
  'bai-do-xe-thien-mu': { capacity: 70, pricePerHour: 10000 },
  'bai-do-xe-lang-tu-duc': { capacity: 60, pricePerHour: 10000 },
  'bai-do-xe-thuan-an': { capacity: 200, pricePerHour: 10000 },
};

/** Huế's box: every car park of the city data lies inside it. */
const SOUTH_WEST = geo.point(16.3, 107.4);
const NORTH_EAST = geo.point(16.7, 107.8);

/** What staff last reported about a car park. */
export interface Report {
  free: number;
  /** Unix milliseconds. */
  at: number;
}

/** A car park as the app shows it. */
export interface Lot {
  id: string;
  name: string;
  address: string | null;
  ward: string | null;
  lat: number;
  lon: number;
  capacity: number;
  price_per_hour: number;
  /** Free spaces as last reported, `null` before the first report. */
  free: number | null;
  updated_at: number | null;
  distance_m?: number;
}

function lot(place: Place): Lot | undefined {
  const operated = OPERATED[place.id];
  if (operated === undefined) return undefined;
  const report = kv.getJson<Report>(`free/${place.id}`);
  return {
    id: place.id,
    name: place.name,
    address: place.address ?? null,
    ward: place.ward ?? null,
    lat: place.at.lat,
    lon: place.at.lon,
    capacity: operated.capacity,
    price_per_hour: operated.pricePerHour,
    free: report?.free ?? null,
    updated_at: report?.at ?? null,
  };
}

/** Every car park the centre runs, by name. */
export function all(): Lot[] {
  return geo
    .within(SOUTH_WEST, NORTH_EAST, CATEGORY, 100)
    .map(lot)
    .filter((l): l is Lot => l !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name, 'vi'));
}

/** The `k` car parks nearest to a point, nearest first, with distances. */
export function nearest(lat: number, lon: number, k: number): Lot[] {
  return geo
    .nearest(geo.point(lat, lon), k, CATEGORY)
    .map((near: Nearby): Lot | undefined => {
      const found = lot(near.place);
      return found && { ...found, distance_m: Math.round(near.distanceM) };
    })
    .filter((l): l is Lot => l !== undefined);
}

/** The car park `id`, or 404 `lot_not_found`. */
export function find(id: string): Lot {
  const place = geo.place(id);
  const found = place && place.category === CATEGORY ? lot(place) : undefined;
  if (found === undefined) throw new HttpError(404, 'lot_not_found', `there is no car park \`${id}\``);
  return found;
}

/** Record `free` spaces at `lot` (0 to its capacity, else 422). */
export function report(found: Lot, free: number, now: number): Report {
  if (!Number.isInteger(free) || free < 0 || free > found.capacity) {
    throw new HttpError(422, 'invalid_free_spaces', `\`free\` must be a whole number from 0 to ${found.capacity}`);
  }
  const reported = { free, at: now };
  kv.setJson(`free/${found.id}`, reported);
  return reported;
}
