// Who is using the app. `current` needs no capability (pairwise id and
// locale); `profile` gives personal fields when the city granted the
// matching `identity.*` capability and the citizen consented — a missing
// consent is the standard 428 answer that opens the host's consent page.
// Staff roles (`identity.roles`) are the city's assignment of duties: the
// grant alone gives them, with no consent prompt, so `isStaff` can decide on
// any page whether to show a staff link.

import * as host from 'citadel:miniapp/identity@1.5.0';
import { denied, HttpError, notSignedIn, text, variantOf } from './error.ts';

export type { Citizen, Profile, Scope, StaffRole } from 'citadel:miniapp/identity@1.5.0';

/** The `HttpError` of a failed identity call. */
export function identityError(thrown: unknown): HttpError {
  const error = variantOf(thrown);
  switch (error.tag) {
    case 'not-signed-in':
      return notSignedIn();
    case 'denied':
      return denied(text(error));
    case 'consent-required':
      return HttpError.consentRequired(error.val as string[]);
    default:
      return new HttpError(503, 'identity_unavailable', text(error));
  }
}

/** The signed-in citizen as this app knows them, if anyone is signed in. */
export function current(): host.Citizen | undefined {
  return host.current();
}

/** The personal fields in `scopes`, all or nothing; throws 428 without consent. */
export function profile(scopes: host.Scope[]): host.Profile {
  try {
    return host.getProfile(scopes);
  } catch (thrown) {
    throw identityError(thrown);
  }
}

/** Make sure the citizen has consented to `scopes`, or throw the 428 answer. */
export function requireConsent(scopes: host.Scope[]): void {
  profile(scopes);
}

/**
 * The signed-in citizen's staff roles (scope `roles`, capability
 * `identity.roles`): the city's grant is enough, the citizen is not asked.
 * Throws 401 signed out and 403 without the grant.
 */
export function roles(): host.StaffRole[] {
  return profile(['roles']).roles ?? [];
}

/** Whether `role` is a role in `unit` (only that role name if `name` is given). */
export function isRole(role: host.StaffRole, unit: string, name?: string): boolean {
  return role.unit === unit && (name === undefined || role.role === name);
}

/**
 * Whether to show a staff link: the signed-in citizen holds a role in `unit`
 * (`name`: only that role). Signed out, role-less, an app without the
 * `identity.roles` grant, or roles that cannot be read now: `false`. It only
 * decides what a page shows; the staff page itself checks with `requireRole`.
 */
export function isStaff(unit: string, name?: string): boolean {
  if (current() === undefined) return false;
  try {
    return roles().some((r) => isRole(r, unit, name));
  } catch {
    return false;
  }
}

/**
 * The citizen's role in `unit` (any role unless `role` is given), or 403
 * `staff_only`.
 */
export function requireRole(unit: string, role?: string): host.StaffRole {
  const found = roles().find((r) => isRole(r, unit, role));
  if (found === undefined) throw new HttpError(403, 'staff_only', `this is for staff of \`${unit}\``);
  return found;
}

const CAPABILITIES: [host.Scope, string][] = [
  ['name', 'identity.name'],
  ['phone', 'identity.phone'],
  ['national-id', 'identity.national-id'],
  ['address', 'identity.address'],
  ['birth-date', 'identity.birth-date'],
  ['roles', 'identity.roles'],
];

/** The capability name of a scope, e.g. `identity.phone`. */
export function capability(scope: host.Scope): string {
  return `identity.${scope}`;
}

/** The scope of a capability name, e.g. `identity.phone`. */
export function scope(capabilityName: string): host.Scope | undefined {
  return CAPABILITIES.find(([, name]) => name === capabilityName)?.[0];
}
