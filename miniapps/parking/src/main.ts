// `parking` — Bãi đỗ xe Huế, the city's car parks, written with the
// TypeScript SDK: the car parks from the city's map data, live free spaces
// that car-park staff report, the nearest car parks to the citizen (with
// consent), and paying for a parking session. Every route answers a page to
// a browser and JSON to anyone else; Vietnamese first, English second.

import { Form, type Request, Response, Router, serve, serveWhole } from '@citadel/sdk';
import { escape, page, t, vnd } from '@citadel/sdk/html';
import * as identity from '@citadel/sdk/identity';
import * as location from '@citadel/sdk/location';
import * as lots from './lots.ts';
import * as sessions from './sessions.ts';

/** Car parks listed as "near me". */
const NEAR = 5;

function nav(req: Request): string {
  const other = req.lang === 'en' ? 'vi' : 'en';
  return (
    `<a href="${escape(req.link('/'))}">${t(req.lang, 'Tất cả bãi', 'All car parks')}</a>` +
    `<a href="${escape(req.link('/near'))}">${t(req.lang, 'Gần tôi', 'Near me')}</a>` +
    (identity.isStaff(lots.STAFF_UNIT) ? `<a href="${escape(req.link('/staff'))}">${t(req.lang, 'Nhân viên', 'Staff')}</a>` : '') +
    `<a href="${escape(req.inLanguage(other))}" lang="${other}">${other === 'en' ? 'English' : 'Tiếng Việt'}</a>`
  );
}

const title = (req: Request) => t(req.lang, 'Bãi đỗ xe Huế', 'Huế car parks');

/** Free spaces as a badge: the count, or "not reported yet". */
function free(req: Request, lot: lots.Lot): string {
  if (lot.free === null) return `<span class="badge">${t(req.lang, 'Chưa cập nhật', 'Not reported yet')}</span>`;
  const full = lot.free === 0;
  return `<span class="badge">${full ? t(req.lang, 'Hết chỗ', 'Full') : `${lot.free}/${lot.capacity} ${t(req.lang, 'chỗ trống', 'free')}`}</span>`;
}

function card(req: Request, lot: lots.Lot): string {
  const distance = lot.distance_m === undefined ? '' : ` · ${(lot.distance_m / 1000).toFixed(1)} km`;
  return (
    `<div class="card"><a href="${escape(req.link(`/lots/${encodeURIComponent(lot.id)}`))}"><strong>${escape(lot.name)}</strong></a> ${free(req, lot)}` +
    `<div class="muted">${escape(lot.address ?? '')}${distance} · ${vnd(lot.price_per_hour)}/${t(req.lang, 'giờ', 'hour')}</div></div>`
  );
}

function list(req: Request, found: lots.Lot[], heading: string): Response {
  if (!req.wantsHtml()) return Response.json({ lots: found });
  return Response.html(page(req.lang, title(req), nav(req), `<h2>${escape(heading)}</h2>${found.map((l) => card(req, l)).join('')}`));
}

function home(req: Request): Response {
  return list(req, lots.all(), t(req.lang, 'Các bãi đỗ xe của thành phố', "The city's car parks"));
}

/** The car parks nearest to where the citizen's device is (consent `location`). */
function near(req: Request): Response {
  const here = location.current();
  return list(req, lots.nearest(here.lat, here.lon, NEAR), t(req.lang, 'Bãi đỗ xe gần bạn', 'Car parks near you'));
}

function detail(req: Request): Response {
  const lot = lots.find(req.param('id') ?? '');
  if (!req.wantsHtml()) return Response.json(lot);
  const form =
    `<form method="post" action="${escape(req.link(`/lots/${encodeURIComponent(lot.id)}/sessions`))}" class="card">` +
    `<label for="hours">${t(req.lang, 'Số giờ gửi xe', 'Hours to park')}</label>` +
    `<input id="hours" name="hours" type="number" min="1" max="${sessions.MAX_HOURS}" value="1" required>` +
    `<p><button>${t(req.lang, 'Thanh toán', 'Pay')}</button></p></form>`;
  return Response.html(page(req.lang, title(req), nav(req), `${card(req, lot)}${form}`));
}

/** Pay for hours at a car park: the session, or on to the host's payment page. */
function pay(req: Request): Response {
  const lot = lots.find(req.param('id') ?? '');
  const hours = Form.read(req).number('hours');
  const session = sessions.start(req, lot, hours ?? 0, Date.now());
  if (req.wantsHtml()) return Response.redirect(session.confirm_url);
  return Response.json(session).withStatus(201);
}

function session(req: Request): Response {
  const found = sessions.mine(req, req.param('id') ?? '');
  if (!req.wantsHtml()) return Response.json(found);
  const status =
    found.status === 'paid'
      ? t(req.lang, 'Đã thanh toán', 'Paid')
      : found.status === 'refunded'
        ? t(req.lang, 'Đã hoàn tiền', 'Refunded')
        : t(req.lang, 'Chờ thanh toán', 'Awaiting payment');
  return Response.html(
    page(
      req.lang,
      title(req),
      nav(req),
      `<div class="card"><strong>${escape(found.lot_name)}</strong> <span class="badge">${escape(status)}</span>` +
        `<div>${found.hours} ${t(req.lang, 'giờ', 'hours')} · ${vnd(found.amount)}</div></div>`,
    ),
  );
}

/** Staff of the car-park centre only (the city's `identity.roles` grant; no consent is asked). */
function staff(req: Request): Response {
  identity.requireRole(lots.STAFF_UNIT);
  const all = lots.all();
  if (!req.wantsHtml()) return Response.json({ lots: all });
  const forms = all
    .map(
      (lot) =>
        `<form method="post" action="${escape(req.link(`/lots/${encodeURIComponent(lot.id)}/free`))}" class="card">` +
        `<label for="free-${escape(lot.id)}">${escape(lot.name)} ${free(req, lot)}</label>` +
        `<input id="free-${escape(lot.id)}" name="free" type="number" min="0" max="${lot.capacity}" required>` +
        `<p><button>${t(req.lang, 'Cập nhật chỗ trống', 'Update free spaces')}</button></p></form>`,
    )
    .join('');
  return Response.html(page(req.lang, t(req.lang, 'Cập nhật chỗ trống', 'Free spaces'), nav(req), forms));
}

function reportFree(req: Request): Response {
  identity.requireRole(lots.STAFF_UNIT);
  const lot = lots.find(req.param('id') ?? '');
  const reported = lots.report(lot, Form.read(req).number('free') ?? -1, Date.now());
  if (req.wantsHtml()) return Response.redirect(req.link('/staff'));
  return Response.json({ ...lot, free: reported.free, updated_at: reported.at });
}

function paymentHook(req: Request): Response {
  const updated = sessions.hook(req, Date.now());
  return Response.json({ session: updated.id, status: updated.status });
}

const router = new Router()
  .get('/', home)
  .get('/near', near)
  .get('/lots/:id', detail)
  .post('/lots/:id/sessions', pay)
  .post('/lots/:id/free', reportFree)
  .get('/sessions/:id', session)
  .get('/staff', staff)
  .post('/payments/hook', paymentHook);

// The host's one-call path, and wasi:http for hosts before contract 1.5.
export const handler = serveWhole(router);
export const incomingHandler = serve(router);
