// `probe-js`: a test-only TypeScript mini-app that calls the JS SDK's host
// wrappers one route each (kv, citizen-kv, identity, notify, outbound fetch)
// and its request helpers, so the tests see what a partner's code would.
// It exports only wasi:http (as apps built before contract 1.5 do), so the
// tests cover the SDK's `serve`; `hello-js` and `parking` take `serveWhole`.

import { Form, HttpError, Request, Response, Router, serve } from '@citadel/sdk';
import * as citizenKv from '@citadel/sdk/citizen-kv';
import * as fetch from '@citadel/sdk/fetch';
import * as identity from '@citadel/sdk/identity';
import * as kv from '@citadel/sdk/kv';
import * as notify from '@citadel/sdk/notify';

function about(req: Request): Response {
  return Response.json({
    method: req.method,
    path: req.path,
    q: req.query('q') ?? null,
    lang: req.lang,
    base: req.basePath,
    request_id: req.requestId ?? null,
    citizen: req.citizen ?? null,
  });
}

const router = new Router()
  .get('/', about)
  .get('/files/*rest', (req) => Response.text(req.param('rest') ?? ''))
  .get('/kv/:key', (req) => Response.json({ value: kv.getJson(req.param('key') ?? '') ?? null }))
  .put('/kv/:key', (req) => {
    kv.setJson(req.param('key') ?? '', req.json());
    return new Response(204);
  })
  .post('/count', () => Response.json({ count: kv.nextNumber('count') }))
  .post('/mine', (req) => {
    citizenKv.setJson('note', Form.read(req).required('note'));
    return Response.json({ note: citizenKv.getJson<string>('note') ?? null });
  })
  .get('/profile', () => Response.json(identity.profile(['name', 'phone'])))
  .get('/staff', () => Response.json(identity.requireRole('parking-hue')))
  .post('/notify', (req) => {
    notify.send('Xin chào', Form.read(req).required('body'));
    return new Response(202);
  })
  .get('/fetch', (req) => {
    const answer = fetch.get(req.query('url') ?? '');
    return Response.json({ status: answer.status, body: answer.text() });
  })
  .post('/form', (req) => {
    const form = Form.read(req);
    return Response.json({
      name: form.required('name'),
      age: form.number('age') ?? null,
      files: form.files.map((f) => ({ name: f.filename ?? null, type: f.contentType ?? null, size: f.data.length })),
    });
  })
  .get('/conflict', () => {
    throw HttpError.conflict('already done');
  })
  .get('/bug', () => {
    throw new TypeError('this is a bug in the app');
  });

export const incomingHandler = serve(router);
