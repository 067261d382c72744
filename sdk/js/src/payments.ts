// Payments (capability `payments`; refunds need `payments.refund`): ask the
// signed-in citizen to pay; only they can approve, on the host's page
// (`intent.confirmUrl`). Your own order id is the reference: calling again
// returns the same intent. The host POSTs the intent to the manifest's
// `payment_hook` after each capture or refund, at least once — read it with
// `hookEvent` and act once per (intent, status), or re-read it with `get`.

import * as host from 'citadel:miniapp/payments@1.5.0';
import { denied, HttpError, text, variantOf } from './error.ts';
import type { Request } from './http.ts';

export type { IntentStatus } from 'citadel:miniapp/payments@1.5.0';

/** A payment intent; amounts in VND (đồng), times in Unix milliseconds. */
export interface Intent {
  id: string;
  reference: string;
  amount: number;
  description: string;
  status: host.IntentStatus;
  refunded: number;
  confirmUrl: string;
  expiresAt: number;
}

function intent(raw: host.Intent): Intent {
  return {
    id: raw.id,
    reference: raw.reference,
    amount: Number(raw.amount),
    description: raw.description,
    status: raw.status,
    refunded: Number(raw.refunded),
    confirmUrl: raw.confirmUrl,
    expiresAt: Number(raw.expiresAt),
  };
}

function paymentError(thrown: unknown): HttpError {
  const error = variantOf(thrown);
  switch (error.tag) {
    case 'not-signed-in':
      return new HttpError(401, 'not_signed_in', 'sign in to Citadel to pay');
    case 'denied':
      return denied(text(error));
    case 'invalid-amount':
      return new HttpError(422, 'invalid_amount', text(error));
    case 'invalid':
      return HttpError.invalid(text(error));
    case 'not-found':
      return HttpError.notFound('no such payment');
    case 'not-captured':
      return HttpError.conflict('the payment is not captured');
    case 'over-refund':
      return new HttpError(409, 'over_refund', `only ${text(error)} VND remain to refund`);
    default:
      return new HttpError(503, 'payments_unavailable', text(error));
  }
}

function call(f: () => host.Intent): Intent {
  try {
    return intent(f());
  } catch (thrown) {
    throw paymentError(thrown);
  }
}

/** A whole number of VND as the contract's u64, or 422 `invalid_amount`. */
function amountOf(amount: number): bigint {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new HttpError(422, 'invalid_amount', 'the amount must be a whole number of đồng');
  }
  return BigInt(amount);
}

/** Ask the citizen for `amount` VND; `reference` is your idempotency key. */
export function create(amount: number, description: string, reference: string): Intent {
  const wire = amountOf(amount);
  return call(() => host.createIntent(wire, description, reference));
}

/** The intent `id` of this app, as it is now. */
export function get(id: string): Intent {
  return call(() => host.getIntent(id));
}

/** Refund `amount` VND (all that remains if omitted) of a captured intent, once per `reference`. */
export function refund(id: string, amount: number | undefined, reference: string): Intent {
  const wire = amount === undefined ? undefined : amountOf(amount);
  return call(() => host.refund(id, wire, reference));
}

/** A payment event the host delivered to the hook route. */
export interface HookEvent {
  /** The host's id of this delivery: the same on a retry. */
  delivery: string;
  intent: { id: string; reference: string; amount: number; status: string; refunded: number };
}

/**
 * Read a hook delivery (400 if the request is not one); re-read the intent
 * with `get` before acting on it, and act once per (intent, status).
 */
export function hookEvent(req: Request): HookEvent {
  const delivery = req.header('x-citadel-payment-event');
  if (delivery === undefined) throw HttpError.badRequest('not a payment event from the host');
  const body = req.json<{ intent?: HookEvent['intent'] }>();
  const raw = body?.intent;
  if (raw === undefined || typeof raw.id !== 'string' || typeof raw.reference !== 'string' || typeof raw.status !== 'string') {
    throw HttpError.badRequest('invalid JSON: the event has no intent');
  }
  return {
    delivery,
    intent: { id: raw.id, reference: raw.reference, amount: Number(raw.amount), status: raw.status, refunded: Number(raw.refunded) },
  };
}
