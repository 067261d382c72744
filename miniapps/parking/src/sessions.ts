// Parking sessions: a citizen pays for hours at a car park through the
// host's payments; the payment hook marks the session paid once the money
// is captured (at least once delivered, so marking is idempotent).

import { HttpError, type Request } from '@citadel/sdk';
import * as kv from '@citadel/sdk/kv';
import * as payments from '@citadel/sdk/payments';
import type { Lot } from './lots.ts';

/** Hours one session may buy. */
export const MAX_HOURS = 12;

export interface Session {
  id: string;
  lot: string;
  lot_name: string;
  hours: number;
  amount: number;
  /** The payer's pairwise id. */
  citizen: string;
  intent: string;
  confirm_url: string;
  status: 'pending' | 'paid' | 'refunded';
  created_at: number;
  paid_at: number | null;
}

const key = (id: string) => `session/${id}`;

/** Start a session of `hours` at `lot` for the signed-in citizen: the payment intent to confirm. */
export function start(req: Request, lot: Lot, hours: number, now: number): Session {
  const citizen = req.requireCitizen();
  if (!Number.isInteger(hours) || hours < 1 || hours > MAX_HOURS) {
    throw new HttpError(422, 'invalid_hours', `\`hours\` must be a whole number from 1 to ${MAX_HOURS}`);
  }
  const id = `P${kv.nextNumber('session-seq')}`;
  const amount = hours * lot.price_per_hour;
  const intent = payments.create(amount, `Gửi xe ${hours} giờ tại ${lot.name}`, id);
  const session: Session = {
    id,
    lot: lot.id,
    lot_name: lot.name,
    hours,
    amount,
    citizen,
    intent: intent.id,
    confirm_url: intent.confirmUrl,
    status: 'pending',
    created_at: now,
    paid_at: null,
  };
  kv.setJson(key(id), session);
  return session;
}

/** The signed-in citizen's session `id`; 404 for anyone else's. */
export function mine(req: Request, id: string): Session {
  const citizen = req.requireCitizen();
  const session = kv.getJson<Session>(key(id));
  if (session === undefined || session.citizen !== citizen) {
    throw new HttpError(404, 'session_not_found', `there is no parking session \`${id}\``);
  }
  return session;
}

/**
 * The payment hook: re-read the intent from the host (the event is only a
 * hint) and mark its session paid or refunded, once.
 */
export function hook(req: Request, now: number): Session {
  const event = payments.hookEvent(req);
  const intent = payments.get(event.intent.id);
  const status = intent.status === 'captured' ? 'paid' : intent.status === 'refunded' ? 'refunded' : undefined;
  return kv.updateJson<Session>(key(intent.reference), (session) => {
    if (session === undefined || session.intent !== intent.id) {
      throw new HttpError(404, 'session_not_found', `no parking session has the payment \`${intent.id}\``);
    }
    if (status === undefined || session.status === status) return session;
    return { ...session, status, paid_at: status === 'paid' ? now : session.paid_at };
  });
}
