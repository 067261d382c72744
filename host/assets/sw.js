// The citizen shell's service worker: keeps the shell (its page, script,
// styles and icons) and the public catalogue of apps usable offline, network
// first. Nothing else is ever stored: no citizen's API answer, app page,
// payment or consent page, and no answer to a request sent with credentials.
'use strict';

const CACHE = 'citadel-shell-v1';
/** The shell's own files, stored at install. */
const SHELL = [
  '/', '/manifest.webmanifest', '/assets/shell.css', '/assets/shell.js', '/assets/local-path.js', '/assets/explain.js',
  '/assets/icon.svg', '/assets/icon-192.png', '/assets/icon-512.png',
];

/** The key an answer to `request` is kept under, or null when it must never
 *  be kept: only GETs of this origin, without an authorization header, for
 *  a shell file or the public catalogue (`/api/v1/apps`, one app's entry). */
function keyOf(request) {
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return null;
  if (request.headers.has('authorization')) return null;
  if (SHELL.includes(url.pathname)) return url.pathname;
  if (url.pathname === '/api/v1/apps' || /^\/api\/v1\/apps\/[A-Za-z0-9_-]+$/.test(url.pathname)) {
    return url.pathname + url.search;
  }
  return null;
}

/** Ask the network for `key` without cookies, so what is stored is what
 *  anyone would get; keep a good answer the server allows storing. */
async function refresh(cache, key) {
  const response = await fetch(key, { credentials: 'omit', cache: 'no-cache' });
  const control = response.headers.get('cache-control') || '';
  if (response.ok && response.type === 'basic' && !/no-store|private/i.test(control)) {
    await cache.put(key, response.clone());
  }
  return response;
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all(SHELL.map((key) => refresh(cache, key)));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const key = keyOf(event.request);
  if (!key) return; // the network's alone, never stored
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      return await refresh(cache, key);
    } catch (offline) {
      const kept = await cache.match(key);
      if (!kept) throw offline;
      // Marked, so that the shell knows it reads a saved copy.
      const headers = new Headers(kept.headers);
      headers.set('x-citadel-offline', '1');
      return new Response(kept.body, { status: kept.status, statusText: kept.statusText, headers });
    }
  })());
});
