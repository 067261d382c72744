// Issue 18, item 11: the shell is an installable web app that tolerates
// losing the network, at phone and desktop width. Its manifest and icons are
// served and linked; its service worker takes control; offline, the shell
// and the catalogue still open with a notice (Vietnamese, then English), and
// what needs the host says so; back online, the notice goes. Nothing
// personal is ever stored: after a signed-in citizen used the inbox,
// payments, permissions, an app and the consent page, the cache holds only
// the shell's files and the public catalogue.

import { signIn } from './10-citizen-reports.mjs';

export const name = 'offline';
/** Offline, the shell's calls to the host fail: expected. */
export const allowConsole = (text) => /ERR_INTERNET_DISCONNECTED|Failed to fetch/.test(text);

/** What the service worker may keep: the shell's files, the catalogue. */
const KEEPABLE = [/^\/$/, /^\/manifest\.webmanifest$/, /^\/assets\/[a-z0-9.-]+$/, /^\/api\/v1\/apps(\?[^/]*)?$/,
  /^\/api\/v1\/apps\/[A-Za-z0-9_-]+$/];

async function cached(page) {
  return page.evaluate(async () => {
    const kept = [];
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) {
        const url = new URL(request.url);
        kept.push(url.pathname + url.search);
      }
    }
    return kept;
  });
}

export async function run(t) {
  for (const [label, viewport] of Object.entries(t.widths)) {
    const page = await t.page(viewport);
    await page.goto(`${t.base}/`);
    await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();

    // Installable: the manifest and every icon it names are served.
    const href = await page.locator('link[rel="manifest"]').getAttribute('href');
    const response = await page.request.get(new URL(href, t.base).href);
    t.check(response.ok() && response.headers()['content-type'] === 'application/manifest+json',
      `the manifest: ${response.status()} ${response.headers()['content-type']}`);
    const manifest = await response.json();
    t.check(manifest.start_url === '/' && manifest.display === 'standalone' && manifest.name === 'Citadel Huế',
      `the manifest: ${JSON.stringify(manifest)}`);
    for (const icon of manifest.icons) {
      const image = await page.request.get(new URL(icon.src, t.base).href);
      t.check(image.ok() && image.headers()['content-type'] === icon.type, `the icon ${icon.src}: ${image.status()}`);
    }

    // The service worker takes control of the shell.
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.reload();
    await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();
    t.check(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the service worker controls the shell');
    // Chromium's own judgement: the manifest parses cleanly, and the shell may be installed.
    const cdp = await page.context().newCDPSession(page);
    const { errors } = await cdp.send('Page.getAppManifest');
    t.check(errors.length === 0, `the manifest's errors: ${JSON.stringify(errors)}`);
    // (A Playwright context is an incognito one: that alone Chromium may report.)
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    const refusals = installabilityErrors.filter((e) => e.errorId !== 'in-incognito');
    t.check(refusals.length === 0, `not installable: ${JSON.stringify(refusals)}`);

    // A signed-in citizen's personal views, an app, the consent and payment pages.
    await signIn(page, t.base, 'Trần Văn Minh');
    for (const view of ['#/inbox', '#/payments', '#/permissions']) {
      await page.goto(`${t.base}/${view}`);
      await page.locator('main h1').waitFor();
    }
    await page.goto(`${t.base}/#/app/tourism`);
    await page.waitForFunction(() => document.querySelector('iframe.frame')?.src.includes('/f/'));
    await page.frameLocator('iframe.frame').locator('h1').first().waitFor();
    await page.goto(`${t.base}/consent?app=field-reports&scopes=location`);
    await page.locator('h1').first().waitFor();
    await page.goto(`${t.base}/#/`);
    await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();
    const kept = await cached(page);
    const personal = kept.filter((url) => !KEEPABLE.some((allowed) => allowed.test(url)));
    t.check(personal.length === 0, `the cache holds more than the shell and the catalogue: ${personal.join(', ')}`);
    t.check(kept.includes('/') && kept.some((url) => url.startsWith('/api/v1/apps?')),
      `the shell and the catalogue are kept: ${kept.join(', ')}`);

    // Offline: the shell and the catalogue open, with the notice.
    await page.context().setOffline(true);
    await page.reload();
    await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();
    const notice = page.locator('#offline');
    await notice.waitFor();
    t.check((await notice.textContent()).startsWith('Bạn đang ngoại tuyến.'), `the notice: ${await notice.textContent()}`);
    t.check(await page.getByRole('link', { name: /Du lịch Huế/ }).count() === 1, 'the saved catalogue lists the apps');
    await t.axe(page, `${label}-offline-catalogue`);
    await t.shot(page, `${label}-offline-catalogue`);
    // What needs the host says so, in place of an error.
    for (const view of ['#/inbox', '#/app/tourism']) {
      await page.goto(`${t.base}/${view}`);
      await page.getByRole('heading', { name: 'Không có kết nối mạng' }).waitFor();
    }
    await t.shot(page, `${label}-offline-app`);
    await page.getByRole('link', { name: 'Về danh sách ứng dụng' }).click();
    await page.getByRole('button', { name: 'English' }).click();
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    t.check((await notice.textContent()).startsWith('You are offline.'), `the notice in English: ${await notice.textContent()}`);
    await t.shot(page, `${label}-offline-english`);
    await page.getByRole('button', { name: 'Tiếng Việt' }).click();

    // Back online: the notice goes, the citizen is signed in again.
    await page.context().setOffline(false);
    await notice.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Đăng xuất' }).waitFor();
    await t.shot(page, `${label}-online-again`);
  }
}
