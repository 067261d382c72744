// A citizen signed in on two devices (two browser contexts) signs out
// everywhere from "My data" on one: both are signed out, and the other
// device finds itself at the sign-in button on its next step.

import { signIn } from './10-citizen-reports.mjs';

export const name = 'sign-out-everywhere';
// The phone's next view asks with its ended session: one 401, expected.
export const allowConsole = (text) => /status of 401 .*\/api\/v1\/me\/consents/.test(text);

export async function run(t) {
  const phone = await t.page();
  const laptop = await t.page(t.widths.desktop);
  await signIn(phone, t.base, 'Đặng Văn Dũng');
  await signIn(laptop, t.base, 'Đặng Văn Dũng');

  await laptop.goto(`${t.base}/#/data`);
  await laptop.getByRole('heading', { level: 2, name: 'Đăng xuất trên mọi thiết bị' }).waitFor();
  await laptop.getByRole('button', { name: 'Đăng xuất khỏi mọi thiết bị' }).click();
  await laptop.locator('#status', { hasText: 'Đã kết thúc 2 phiên đăng nhập của bạn.' }).waitFor();
  await laptop.locator('#signin:not(.hidden)').waitFor();
  await t.shot(laptop, 'signed-out-everywhere');

  for (const [device, page] of [['laptop', laptop], ['phone', phone]]) {
    const me = await page.request.get(`${t.base}/api/v1/me`);
    t.check(me.status() === 401, `the ${device} is signed out: ${me.status()}`);
  }
  // The phone's shell learns it on its next view, and says so.
  await phone.goto(`${t.base}/#/permissions`);
  await phone.locator('#signin:not(.hidden)').waitFor();
  await phone.locator('#signout.hidden').waitFor({ state: 'attached' });
}
