// Acceptance 4: a mini-app's script cannot read the host's cookies or call
// `/api/v1/me/*` with the citizen's session (nor download or erase their
// data) — tried from inside the frame.

import { signIn } from './10-citizen-reports.mjs';

export const name = 'isolation';
// The frame's refused cross-origin calls print CORS errors: expected.
export const allowConsole = (text) => /CORS|Access-Control|Failed to fetch|ERR_FAILED|status of 40[13]/.test(text);

export async function run(t) {
  const page = await t.page();
  await signIn(page, t.base, 'Trần Văn Minh');
  await page.goto(`${t.base}/#/app/notes`);
  // The shell sets the frame's address once it holds a frame token.
  await page.waitForFunction(() => document.querySelector('iframe.frame')?.src.includes('/f/'));
  const handle = await page.locator('iframe.frame').elementHandle();
  let frame = await handle.contentFrame();
  // The frame's navigation to its new address may not have begun yet.
  await frame.waitForURL(/\/f\//);
  await frame.waitForLoadState();
  t.check(frame.url().includes('/f/cit_f_'), `the app runs under a frame token, not the session: ${frame.url()}`);

  const attempts = await frame.evaluate(async () => {
    const outcome = async (promise) => {
      try { const r = await promise; return r.type === 'opaque' ? 'opaque' : r.status; } catch (e) { return 'blocked'; }
    };
    let cookie;
    try { cookie = document.cookie; } catch (e) { cookie = `blocked:${e.name}`; }
    let parentCookie;
    try { parentCookie = parent.document.cookie; } catch (e) { parentCookie = `blocked:${e.name}`; }
    const token = location.pathname.split('/')[2];
    return {
      cookie,
      parentCookie,
      me: await outcome(fetch('/api/v1/me', { credentials: 'include' })),
      inbox: await outcome(fetch('/api/v1/me/inbox', { credentials: 'include' })),
      withToken: await outcome(fetch('/api/v1/me', { headers: { authorization: `Bearer ${token}` } })),
      consentJson: await outcome(fetch('/api/v1/me/consents', {
        method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ app: 'field-reports', scopes: ['location'] }),
      })),
      myData: await outcome(fetch('/api/v1/me/data', { credentials: 'include' })),
      erase: await outcome(fetch('/api/v1/me/data', { method: 'DELETE', credentials: 'include' })),
      eraseSimple: await outcome(fetch('/api/v1/me/data', { method: 'DELETE', mode: 'no-cors', credentials: 'include' })),
      consentSimple: await outcome(fetch('/api/v1/me/consents', {
        method: 'POST', mode: 'no-cors', credentials: 'include',
        body: JSON.stringify({ app: 'field-reports', scopes: ['location'] }),
      })),
      token,
    };
  });
  t.check(attempts.cookie === '' || attempts.cookie.startsWith('blocked'), `document.cookie in the frame: ${attempts.cookie}`);
  t.check(attempts.parentCookie.startsWith('blocked'), `the shell's document from the frame: ${attempts.parentCookie}`);
  for (const key of ['me', 'inbox', 'withToken', 'consentJson', 'myData', 'erase']) {
    t.check(attempts[key] === 'blocked' || attempts[key] === 401 || attempts[key] === 403, `${key} from the frame: ${attempts[key]}`);
  }
  // The frame token is no session: not even outside the browser's CORS.
  const direct = await page.request.get(`${t.base}/api/v1/me`, { headers: { authorization: `Bearer ${attempts.token}` } });
  t.check(direct.status() === 401, `the frame token on the citizen API: ${direct.status()}`);
  // No consent was recorded by any of it.
  const consents = await page.request.get(`${t.base}/api/v1/me/consents`);
  const body = await consents.json();
  t.check(consents.ok() && body.consents.length === 0, `consents after the attack: ${JSON.stringify(body)}`);
  // Nor was the citizen's data erased: the session still stands.
  const still = await page.request.get(`${t.base}/api/v1/me`);
  t.check(still.status() === 200, `the session after the frame's erasure attempts: ${still.status()}`);
  await t.shot(page, 'frame-isolated');
}
