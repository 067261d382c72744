// Acceptance 2: a citizen buys a tourism ticket → the host's payment page →
// confirms → the app shows the ticket (with its QR code).

import { signIn } from './10-citizen-reports.mjs';

export const name = 'tourism-ticket';

export async function run(t) {
  const page = await t.page();
  await signIn(page, t.base, 'Trần Văn Minh');
  await page.goto(`${t.base}/#/app/tourism?path=${encodeURIComponent('/sites/dai-noi')}`);
  const frame = page.frameLocator('iframe.frame');
  await frame.getByLabel('Số lượng (1–10)').fill('2');
  await t.shot(page, 'order-form');
  await frame.getByRole('button', { name: 'Tiếp tục thanh toán' }).click();

  // The shell hands over to the host's own payment page (top level).
  await page.waitForURL(/\/pay\/[^/?]+\?return=/);
  await page.getByRole('heading', { name: 'Xác nhận thanh toán' }).waitFor();
  t.check((await page.textContent('.amount')).includes('400.000'), 'the host shows the amount: 2 × 200.000 ₫');
  await t.shot(page, 'host-payment-page');
  await page.getByRole('button', { name: 'Thanh toán bằng ví Citadel' }).click();

  // Back in the shell, the app opens on the order, which shows the tickets.
  await page.waitForURL(/#\/app\/tourism/);
  const qr = frame.locator('svg.qr').first();
  await qr.waitFor();
  t.check(await frame.locator('svg.qr').count() === 2, 'two tickets, each with its QR code');
  await t.shot(page, 'tickets');

  // The shell's payment history has it.
  await page.goto(`${t.base}/#/payments`);
  await page.getByText('Đã thanh toán').first().waitFor();
  await t.shot(page, 'payment-history');
}
