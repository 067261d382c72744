// Acceptance 1: a citizen signs in → opens field-reports → the consent
// dialog appears → consents → files a report → sees the notification in the
// inbox → revokes the consent in "My permissions" → the app asks again.

export const name = 'citizen-reports';

const PHU_HOI = { latitude: 16.4627, longitude: 107.5965 };

export async function signIn(page, base, citizenName) {
  await page.goto(`${base}/#/signin`);
  await page.getByRole('button', { name: `Đăng nhập: ${citizenName}` }).click();
  await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();
}

export async function run(t) {
  const page = await t.page(undefined, { geolocation: PHU_HOI, permissions: ['geolocation'] });
  await signIn(page, t.base, 'Nguyễn Thị Lan');
  await t.shot(page, 'signed-in');

  await page.getByRole('link', { name: /Phản ánh hiện trường/ }).click();
  const frame = page.frameLocator('iframe.frame');
  await frame.getByRole('link', { name: 'Phản ánh tại vị trí của tôi' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const asked = await dialog.textContent();
  t.check(asked.includes('Vị trí của bạn') && !asked.includes('the citizen'),
    'the consent dialog names the location scope in Vietnamese, with no English');
  await t.shot(page, 'consent-dialog');
  // "Don't allow" is no dead end: the host says what the app did not get
  // and offers the ways on; going on, the app asks again.
  await dialog.getByRole('button', { name: 'Không đồng ý', exact: true }).click();
  const denied = page.getByRole('status').filter({ hasText: 'Bạn đã không đồng ý chia sẻ: Vị trí của bạn' });
  await denied.waitFor();
  t.check(await page.getByRole('link', { name: 'Về danh sách ứng dụng' }).isVisible(), 'a way back to the apps after denying');
  await t.shot(page, 'consent-denied');
  // The app reloads in its frame: click in the new page, not the old one.
  const reloaded = page.waitForEvent('framenavigated', (f) => f.parentFrame() === page.mainFrame());
  await page.getByRole('button', { name: 'Tiếp tục dùng ứng dụng' }).click();
  await reloaded;
  await frame.getByRole('link', { name: 'Phản ánh tại vị trí của tôi' }).click();
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Đồng ý', exact: true }).click();

  await frame.locator('#here').waitFor();
  t.check((await frame.locator('#here').textContent()).includes('Phú Hội'), 'the form shows the ward of the position');
  await frame.getByLabel('Lĩnh vực').selectOption('waste');
  await frame.getByLabel('Nội dung phản ánh').fill('Rác tồn đọng trước số 20 Hùng Vương');
  await t.shot(page, 'form-filled');
  await frame.getByRole('button', { name: 'Gửi phản ánh' }).click();
  await frame.getByText('Đã tiếp nhận').first().waitFor();
  await t.shot(page, 'report-filed');

  // On a phone the app has the screen; "back" brings the sections again.
  t.check(!(await page.getByRole('link', { name: 'Hộp thư' }).isVisible()), 'in an app, the phone shows only its compact header');
  await page.getByRole('button', { name: 'Quay lại' }).click();
  await page.getByRole('link', { name: 'Hộp thư' }).click();
  await page.getByText(/Đã tiếp nhận phản ánh PA-/).waitFor();
  await t.shot(page, 'inbox');

  await page.getByRole('link', { name: 'Quyền của tôi' }).click();
  await page.getByRole('button', { name: /Thu hồi: Vị trí của bạn/ }).click();
  await page.getByText('Đã thu hồi quyền.').waitFor();
  await t.shot(page, 'revoked');

  await page.goto(`${t.base}/#/app/field-reports`);
  await frame.getByRole('link', { name: 'Phản ánh tại vị trí của tôi' }).click();
  await dialog.waitFor();
  await t.shot(page, 'asked-again');
  await dialog.getByRole('button', { name: 'Không đồng ý', exact: true }).click();
}
