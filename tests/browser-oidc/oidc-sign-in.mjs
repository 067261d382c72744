// Issue 17 in Chromium: a citizen signs in on the city's OpenID provider's
// own page (tools/oidc-provider), lands in the shell signed in, opens public
// services, consents to their name and sees the provider's name in the app,
// then signs out of Citadel and of the provider. Run by tests/tests/suite/oidc.rs
// through browser/run.mjs (CITADEL_SCENARIO_DIR), with the provider's
// issuer in CITADEL_SETUP.

export const name = 'oidc-sign-in';

/** The provider's own pages print nothing of Citadel's; only their noise is allowed. */
export const allowConsole = (line) => line.startsWith(JSON.parse(process.env.CITADEL_SETUP).issuer);

export async function run(t) {
  const { issuer, citizen, login } = t.setup;
  const page = await t.page();

  await page.goto(`${t.base}/#/signin`);
  await page.getByRole('link', { name: 'Đăng nhập bằng tài khoản định danh của thành phố' }).click();
  await page.waitForURL((url) => url.href.startsWith(issuer));
  await t.shot(page, 'provider-login');
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').first().click();
  // The provider may ask once whether Citadel may have the scopes.
  await page.waitForURL((url) => url.href.startsWith(t.base) || url.pathname.startsWith('/interaction/'));
  if (!page.url().startsWith(t.base)) {
    await page.locator('button[type="submit"]').first().click();
  }
  await page.waitForURL((url) => url.href.startsWith(t.base));
  await page.getByRole('heading', { name: 'Ứng dụng' }).waitFor();
  t.check(await page.locator('#signout').isVisible(), 'signed in: the shell offers to sign out');
  await t.shot(page, 'signed-in');

  // An app asks for the name; the host asks the citizen; the app shows it.
  await page.goto(`${t.base}/#/app/public-services`);
  const frame = page.frameLocator('iframe.frame');
  await frame.getByRole('link', { name: 'Đăng ký khai sinh' }).first().click();
  await frame.getByRole('link', { name: 'Nộp hồ sơ trực tuyến' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const asked = await dialog.textContent();
  t.check(asked.includes('Họ và tên') || asked.includes('tên'), `the dialog asks for the name: ${asked}`);
  await t.shot(page, 'consent');
  await dialog.getByRole('button', { name: 'Đồng ý', exact: true }).click();
  await frame.getByText(citizen).waitFor();
  await t.shot(page, 'name-from-provider');

  // Sign out (from the shell's start: an open app's compact header has no
  // room for it): Citadel's session ends and the provider's end-session
  // page follows.
  await page.goto(`${t.base}/#/`);
  await page.locator('#signout').click();
  await page.waitForURL((url) => url.href.startsWith(`${issuer}/session/end`));
  await t.shot(page, 'provider-sign-out');
  const confirm = page.getByRole('button', { name: /sign me out/i });
  if (await confirm.count()) {
    await confirm.click();
    await page.waitForLoadState();
  }
  await page.goto(`${t.base}/#/signin`);
  await page.getByRole('link', { name: 'Đăng nhập bằng tài khoản định danh của thành phố' }).waitFor();
  const session = await page.evaluate(async () => (await fetch('/api/v1/session')).json());
  t.check(session.citizen === null, `signed out of Citadel: ${JSON.stringify(session)}`);
}
