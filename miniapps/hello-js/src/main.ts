// `hello-js`: the smallest Citadel mini-app in TypeScript, a greeting from
// Huế — the twin of the Rust `hello`, for tests and the benchmarks.

import { Response, Router, serve } from '@citadel/sdk';

const router = new Router().get('/', () => Response.text('Xin chào, Huế!'));

export const incomingHandler = serve(router);
