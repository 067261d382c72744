// What a citizen reads when the host refuses: an app the city suspends
// while it is open shows the host's page in its frame (the reason, in
// Vietnamese first, framable by the shell); a refusal of the shell's own
// calls (the download limit) and of the payment page (a payment settled
// meanwhile) is said in the citizen's language with the request code for
// support, not as the API's English message, and the payment page then
// stops saying that the payment waits, whether or not it can read what it
// became.

import { signIn } from './10-citizen-reports.mjs';

export const name = 'refusals';
// The suspended app's page, the eleventh download and the settled payment
// are refusals on purpose; so is the dropped re-read of a settled payment.
export const allowConsole = (text) => /status of (503|429|409)/.test(text)
  || /net::ERR_FAILED \(http:[^ ]*\/api\/v1\/me\/payments\/pi_[0-9a-f]+\)$/.test(text);

const REASON = 'Bảo trì hệ thống đến 17 giờ';

async function operator(t, page, action, body = {}) {
  const response = await page.request.post(`${t.base}/api/v1/operator/apps/hello/${action}`, {
    headers: { authorization: `Bearer ${t.operatorToken}` },
    data: body,
  });
  t.check(response.status() === 200, `the operator can ${action} hello: ${response.status()}`);
}

export async function run(t) {
  const page = await t.page();
  await signIn(page, t.base, 'Trần Thị An');
  await page.goto(`${t.base}/#/app/hello`);
  const frame = page.frameLocator('iframe.frame');
  await frame.getByText('Xin chào, Huế!').waitFor();

  await operator(t, page, 'suspend', { reason: REASON });
  try {
    const app = page.frames().find((f) => f.url().includes('/apps/hello/'));
    t.check(Boolean(app), 'the app has its frame');
    await app.goto(app.url());
    await frame.getByRole('heading', { name: 'Ứng dụng tạm ngừng' }).waitFor();
    const says = await frame.locator('body').innerText();
    t.check(says.includes(REASON), `the frame names the city's reason: ${says}`);
    t.check(says.includes('App suspended'), 'and says it in English below');
    t.check(!says.includes('{"error"'), 'no JSON for the citizen');
    t.check(await frame.getByRole('link').count() === 0, 'no link away inside the shell\'s frame');
    await t.shot(page, 'suspended-in-frame');
    await t.axe(page, 'suspended-in-frame');
  } finally {
    await operator(t, page, 'resume');
  }

  // Ten downloads within the hour are allowed; the shell says why the
  // eleventh is refused, in Vietnamese, with the request code.
  for (let i = 0; i < 10; i += 1) {
    const response = await page.request.get(`${t.base}/api/v1/me/data`);
    t.check(response.status() === 200, `download ${i + 1} is allowed: ${response.status()}`);
  }
  await page.goto(`${t.base}/#/data`);
  await page.getByRole('button', { name: 'Tải về dữ liệu của tôi (JSON)' }).click();
  const status = page.locator('#status', { hasText: 'Đã đạt giới hạn tải dữ liệu' });
  await status.waitFor();
  const said = await status.innerText();
  t.check(/Mã yêu cầu: [0-9a-f]{16}/.test(said), `the request code for support: ${said}`);
  t.check(!/download|within the hour/i.test(said), `nothing in English: ${said}`);
  await t.shot(page, 'download-limit');

  await paymentSettledMeanwhile(t, page);
}

/** Opens the payment page for a bill, then cancels that payment from
 *  "another tab" (the API): the page still offers to pay it. */
async function payPageOfSettledPayment(t, page) {
  await page.goto(`${t.base}/#/app/bills?path=${encodeURIComponent('/?customer=PK0067890')}`);
  const frame = page.frameLocator('iframe.frame');
  await frame.getByRole('button', { name: /^Thanh toán 87\.600/ }).click();
  await page.waitForURL(/\/pay\/[^/?]+\?return=/);
  const intent = new URL(page.url()).pathname.split('/').pop();
  const cancelled = await page.request.post(`${t.base}/api/v1/me/payments/${intent}/cancel`, { data: {} });
  t.check(cancelled.status() === 200, `cancelled from another tab: ${cancelled.status()}`);
  return intent;
}

/** On the host's payment page, a payment settled meanwhile (cancelled from
 *  another tab) is refused in Vietnamese, with the request code; the page
 *  then says what the payment became and offers only the way back. When
 *  it cannot read what the payment became, it still stops saying that the
 *  payment waits for the citizen. */
export async function paymentSettledMeanwhile(t, page) {
  await payPageOfSettledPayment(t, page);
  await page.getByRole('button', { name: 'Thanh toán bằng ví Citadel' }).click();
  const status = page.getByRole('status').filter({ hasText: 'Giao dịch đã được xử lý' });
  await status.waitFor();
  const said = await status.innerText();
  t.check(/Xem kết quả trong mục Thanh toán\. Mã yêu cầu: [0-9a-f]{16}\./.test(said), `what to do, and the request code: ${said}`);
  const state = page.locator('#state', { hasText: 'Đã hủy' });
  await state.waitFor();
  t.check(await state.getAttribute('data-status') === 'cancelled', 'the status line says what the payment became');
  t.check(await page.getByRole('button').count() === 0, 'no button offers to pay what cannot be paid');
  t.check(await page.getByRole('link', { name: 'Quay lại ngay' }).count() === 1, 'the way back to the app');
  await t.shot(page, 'payment-settled-meanwhile');

  const intent = await payPageOfSettledPayment(t, page);
  // The re-read of the payment fails (the network drops it).
  const reread = `${t.base}/api/v1/me/payments/${intent}`;
  await page.route(reread, (route) => route.abort());
  await page.getByRole('button', { name: 'Thanh toán bằng ví Citadel' }).click();
  const settled = page.locator('#state', { hasText: 'Đã xử lý' });
  await settled.waitFor();
  t.check(await settled.getAttribute('data-status') === 'settled', 'unread, the status line no longer says it waits');
  t.check(await page.getByRole('button').count() === 0, 'and no button offers to pay it');
  await page.unroute(reread);
}
