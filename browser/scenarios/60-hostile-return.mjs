// Open redirect after paying: a link to the host's payment page whose
// `return` is another origin in disguise (a tab or CR/LF a browser drops, a
// backslash it reads as `/`, percent-encoded forms) must leave the citizen on
// the host, whatever they press. And a plain return path still works.

import { signIn } from './10-citizen-reports.mjs';

export const name = 'hostile-return';

/** Returns a browser would (or, decoded once more, could) read as another origin. */
const HOSTILE = [
  '/\t/evil.example/',
  '/\r\n/evil.example/',
  '\t//evil.example/',
  ' //evil.example/',
  '//evil.example/',
  '/\\evil.example/',
  '/%09/evil.example/',
  '/%2F/evil.example/',
  '/%5Cevil.example/',
  '/%252F/evil.example/',
  'https://evil.example/',
  'javascript:alert(1)',
];
const LOCAL = ['/', '/#/payments', '/#/app/tourism?path=%2Forders%2F1', '/apps/notes/?a=1&b=2'];

/** A pending payment intent of the signed-in citizen, from the tourism app. */
async function newIntent(page, base) {
  const visitDate = new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 10);
  const response = await page.request.post(`${base}/apps/tourism/api/orders`, {
    data: { ticket: 'dai-noi-adult', quantity: 1, visit_date: visitDate },
  });
  const body = await response.json();
  if (response.status() !== 201 || !body.payment || !body.payment.intent) {
    throw new Error(`ordering a ticket: ${response.status()} ${JSON.stringify(body)}`);
  }
  return body.payment.intent;
}

export async function run(t) {
  const page = await t.page();
  const origin = new URL(t.base).origin;
  // Were the citizen sent away, the request would end here, not in DNS.
  const leftTheHost = [];
  await page.context().route((url) => url.hostname === 'evil.example', (route) => {
    leftTheHost.push(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<title>evil</title><p>evil</p>' });
  });
  await signIn(page, t.base, 'Trần Văn Minh');

  // The pages' own copy of the rule refuses every disguise and keeps paths.
  const judged = await page.evaluate(([hostile, local]) => ({
    hostile: hostile.filter((p) => window.citadelIsLocalPath(p)),
    local: local.filter((p) => !window.citadelIsLocalPath(p)),
  }), [HOSTILE, LOCAL]);
  t.check(judged.hostile.length === 0, `the shell takes as local: ${JSON.stringify(judged.hostile)}`);
  t.check(judged.local.length === 0, `the shell refuses: ${JSON.stringify(judged.local)}`);

  // A hostile return on the payment page: cancelling stays on the host.
  // Each return gets its own tab, left open after its cancel; one wait then
  // gives every tab the time a navigation, had one started, needs to land.
  const cancelled = [];
  for (const hostile of HOSTILE) {
    const intent = await newIntent(page, t.base);
    const tab = await page.context().newPage();
    await tab.goto(`${t.base}/pay/${intent}?return=${encodeURIComponent(hostile)}`);
    await tab.getByRole('heading', { name: 'Xác nhận thanh toán' }).waitFor();
    const kept = await tab.locator('#pay').getAttribute('data-return');
    t.check(kept === '', `the page kept the return ${JSON.stringify(hostile)} as ${JSON.stringify(kept)}`);
    await tab.getByRole('button', { name: 'Hủy' }).click();
    await tab.locator('#status').filter({ hasText: 'Đã hủy.' }).waitFor();
    cancelled.push({ hostile, tab });
  }
  await page.waitForTimeout(1000);
  for (const { hostile, tab } of cancelled) {
    t.check(new URL(tab.url()).origin === origin, `after ${JSON.stringify(hostile)} the citizen is on ${tab.url()}`);
  }
  t.check(leftTheHost.length === 0, `the browser asked for ${leftTheHost.join(', ')}`);
  await t.shot(cancelled.at(-1).tab, 'cancelled-hostile-stays');
  for (const { tab } of cancelled) await tab.close();

  // The test wallet is marked as such, and paying with a plain return lands
  // on that path of the host.
  const intent = await newIntent(page, t.base);
  await page.goto(`${t.base}/pay/${intent}?return=${encodeURIComponent('/#/payments')}`);
  await page.getByText('Ví thử nghiệm').waitFor();
  await t.shot(page, 'test-wallet-marked');
  await page.getByRole('button', { name: 'Thanh toán bằng ví Citadel' }).click();
  await page.waitForURL(`${t.base}/#/payments`);
  await page.getByText('Đã thanh toán').first().waitFor();
  t.check(leftTheHost.length === 0, `the browser asked for ${leftTheHost.join(', ')}`);
  await t.shot(page, 'paid-and-back');
}
