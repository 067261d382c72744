// A citizen downloads their data and erases it from the shell: the
// download is their JSON document, erasing needs the confirmation box,
// signs them out and leaves their payments; checked at both widths by
// 50-shell-layout (the view) and here (the flow), in Vietnamese.

import { signIn } from './10-citizen-reports.mjs';

export const name = 'my-data';

export async function run(t) {
  const page = await t.page();
  await signIn(page, t.base, 'Lê Thảo Vy');
  await page.goto(`${t.base}/#/permissions`);
  await page.getByRole('link', { name: 'Xem, tải về hoặc xoá dữ liệu của tôi' }).click();
  await page.getByRole('heading', { level: 1, name: 'Dữ liệu của tôi' }).waitFor();

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Tải về dữ liệu của tôi (JSON)' }).click(),
  ]);
  const file = await download.path();
  const data = JSON.parse(await (await import('node:fs/promises')).readFile(file, 'utf8'));
  t.check(download.suggestedFilename() === 'citadel-data.json', `downloaded as ${download.suggestedFilename()}`);
  t.check(data.citizen?.name === 'Lê Thảo Vy', `the download is the citizen's: ${JSON.stringify(data.citizen)}`);

  const erase = page.getByRole('button', { name: 'Xoá dữ liệu của tôi' });
  t.check(await erase.isDisabled(), 'erasing waits for the confirmation box');
  await page.getByLabel('Tôi hiểu rằng việc xoá không thể hoàn tác').check();
  await erase.click();
  await page.locator('#status', { hasText: 'Đã xoá dữ liệu của bạn' }).waitFor();
  await page.locator('#signin:not(.hidden)').waitFor();
  const me = await page.request.get(`${t.base}/api/v1/me`);
  t.check(me.status() === 401, `signed out after erasing: ${me.status()}`);
  await t.shot(page, 'my-data-erased');
}
