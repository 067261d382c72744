// `hello-js`: the smallest Citadel mini-app in TypeScript, a greeting from
// Huế — the twin of the Rust `hello`, for tests and the benchmarks.

import { Response, Router, serve, serveWhole } from '@citadel/sdk';

const router = new Router().get('/', () => Response.text('Xin chào, Huế!'));

export const handler = serveWhole(router);
export const incomingHandler = serve(router);
