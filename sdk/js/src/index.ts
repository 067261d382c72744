// @citadel/sdk — write a Citadel mini-app in TypeScript or JavaScript. The
// core (router, request and response, errors, forms, HTML) imports no host
// interface; each interface has its own module (`@citadel/sdk/kv`, …), so a
// component imports exactly the interfaces its code uses.
//
//   import { Router, Response, serve, serveWhole } from '@citadel/sdk';
//   const router = new Router().get('/', () => Response.text('Xin chào, Huế!'));
//   export const handler = serveWhole(router);       // the host's one-call path
//   export const incomingHandler = serve(router);    // wasi:http, for older hosts
//
// A fresh instance serves every request: keep state in `@citadel/sdk/kv`,
// never in module variables.

export { HttpError } from './error.ts';
export { Form, type Part } from './form.ts';
export { Request, Response, encode, type Method } from './http.ts';
export { Router, type Handler } from './router.ts';
export { serve, serveWhole } from './serve.ts';

/** The contract version this SDK was built against. */
export const CONTRACT_VERSION = '1.5.0';
