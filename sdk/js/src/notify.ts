// Messages to citizens' inboxes (capability `notify`): to the signed-in
// citizen or to another citizen of the app by pairwise id. The host
// rate-limits them per app and recipient.

import * as host from 'citadel:miniapp/notify@1.5.0';
import { denied, HttpError, notSignedIn, text, variantOf } from './error.ts';

function notifyError(thrown: unknown): HttpError {
  const error = variantOf(thrown);
  switch (error.tag) {
    case 'not-signed-in':
      return notSignedIn();
    case 'denied':
      return denied(text(error));
    case 'rate-limited':
      return new HttpError(429, 'rate_limited', `too many messages lately; try again in ${text(error)} s`);
    case 'invalid':
      return HttpError.invalid(text(error));
    default:
      return new HttpError(503, 'notify_unavailable', text(error));
  }
}

/** Put a message in the citizen's inbox; `link` is a path inside this app. */
export function send(title: string, body: string, link?: string): void {
  try {
    host.send(title, body, link);
  } catch (thrown) {
    throw notifyError(thrown);
  }
}

/** Put a message in the inbox of another citizen of this app (pairwise id). */
export function sendTo(recipient: string, title: string, body: string, link?: string): void {
  try {
    host.sendTo(recipient, title, body, link);
  } catch (thrown) {
    throw notifyError(thrown);
  }
}
