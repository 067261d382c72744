// The citizen's position (capability `location`): given only with the
// city's grant and the citizen's consent; a missing consent is the 428
// answer that opens the host's consent page.

import * as host from 'citadel:miniapp/location@1.5.0';
import { denied, HttpError, notSignedIn, text, variantOf } from './error.ts';

/** Where the citizen's device said it was (`at` in Unix milliseconds). */
export interface Position {
  lat: number;
  lon: number;
  accuracyM?: number;
  at: number;
}

/** The citizen's last reported position, if recent; throws the SDK's errors. */
export function current(): Position {
  try {
    const position = host.current();
    return { lat: position.lat, lon: position.lon, accuracyM: position.accuracyM, at: Number(position.at) };
  } catch (thrown) {
    const error = variantOf(thrown);
    switch (error.tag) {
      case 'not-signed-in':
        throw notSignedIn();
      case 'denied':
        throw denied(text(error));
      case 'consent-required':
        throw HttpError.consentRequired(error.val as string[]);
      case 'unknown':
        throw new HttpError(
          409,
          'location_unknown',
          'your device has not shared its position; allow location in the app shell or choose a place',
        );
      default:
        throw new HttpError(503, 'location_unavailable', text(error));
    }
  }
}
