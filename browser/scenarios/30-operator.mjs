// The operator console at /admin: an operator signs in, approves a new
// version of a mini-app with grants (the review marks the capability it
// adds), rolls it out to a canary and then to 100 %, rolls it back, and the
// audit log shows each step with its actor. Then every console view at 390 px
// and at desktop width: screenshots, no horizontal overflow on the phone.
//
// Needs `t.setup.review` from host/tests/suite/browser/setup.rs: a version of a
// sample app waiting in review that requests one capability more than the
// live version ({ app, version, live, added }).

import { WIDTHS } from '../widths.mjs';

export const name = 'operator';

const { mobile: MOBILE, desktop: DESKTOP } = WIDTHS;

/** The one expected console error: the refused wrong token at sign-in. */
export function allowConsole(error) {
  return /\/admin: Failed to load resource: the server responded with a status of 401/.test(error);
}

/** Sign in through the form; `withKeyboard` submits with Enter. */
async function signIn(page, t, token, withKeyboard = false) {
  const field = page.getByLabel('Mã truy cập của người vận hành');
  await field.fill(token);
  if (withKeyboard) await field.press('Enter');
  else await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
}

async function heading(page, text) {
  const h1 = page.getByRole('heading', { level: 1, name: text });
  await h1.waitFor();
  return h1;
}

/** Wait for the polite status region to say `text`. */
async function status(page, text) {
  await page.getByRole('status').filter({ hasText: text }).waitFor();
}

async function servedVersion(page, t, app) {
  const response = await page.request.get(`${t.base}/apps/${app}/`);
  t.check(response.ok(), `GET /apps/${app}/ answers ${response.status()}`);
  return response.headers()['x-citadel-app-version'];
}

/** Wait until the audit table shows only records of `kind` and/or `app`. */
async function auditFiltered(page, { kind, app }) {
  await page.waitForFunction(({ kind, app }) => {
    const rows = [...document.querySelectorAll('table.audit tbody tr')];
    return rows.length > 0 && rows.every((row) => (!kind || row.classList.contains(`kind-${kind}`))
      && (!app || row.cells[4].textContent === app));
  }, { kind, app });
}

async function noHorizontalOverflow(page, t, what) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  t.check(width <= MOBILE.width + 1, `${what}: the page is ${width}px wide at ${MOBILE.width}px (horizontal overflow)`);
}

export async function run(t) {
  const review = t.setup.review;
  t.check(review && review.app && review.version && review.added?.length,
    `setup prepared a version in review: ${JSON.stringify(t.setup)}`);
  const { app, version, live, added } = review;

  // ---- The flow, at desktop width.
  const page = await t.page(DESKTOP);
  await page.goto(`${t.base}/admin`);
  await heading(page, 'Đăng nhập bảng điều hành');
  t.check(await page.evaluate(() => document.documentElement.lang) === 'vi', 'the console speaks Vietnamese by default');
  await t.shot(page, 'sign-in');

  // A wrong token: the host's refusal is shown, and nothing opens.
  await signIn(page, t, 'cit_op_not_the_right_token_000000000');
  await page.getByRole('alert').filter({ hasText: 'invalid_credentials' }).waitFor();
  t.check(await page.getByLabel('Mã truy cập của người vận hành').getAttribute('aria-invalid') === 'true',
    'the token field is marked invalid');
  await t.shot(page, 'sign-in-refused');

  await signIn(page, t, t.operatorToken);
  await heading(page, 'Phiên bản chờ duyệt');
  t.check(await page.evaluate(() => sessionStorage.length) === 1, 'the token is kept in sessionStorage');
  const card = page.getByRole('article', { name: new RegExp(`\\(${app}\\) ${version.replaceAll('.', '\\.')}$`) });
  await card.waitFor();

  // The added capability is marked, beside the live version's.
  for (const capability of added) {
    const row = card.getByRole('row', { name: new RegExp(`^${capability}\\b`) });
    const text = await row.textContent();
    t.check(text.includes('Thêm mới'), `the review marks ${capability} as added: ${text}`);
    t.check(await card.getByRole('checkbox', { name: capability, exact: true }).isChecked(),
      `${capability} is pre-checked for granting`);
  }
  const kept = card.getByRole('row', { name: /^kv\b/ });
  t.check((await kept.textContent()).includes('Không đổi'), 'kv, requested by both, is unchanged');
  t.check(await card.getByRole('columnheader', { name: `Đang chạy (${live})` }).count() === 1,
    'the live version is named beside the new one');
  await t.shot(page, 'review-queue');

  // Rejecting needs a reason: refused in the page, before any request.
  await card.getByRole('button', { name: 'Từ chối', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'Hãy ghi lý do từ chối.' }).waitFor();
  t.check(await card.getByLabel('Lý do từ chối (gửi cho nhà phát hành)').getAttribute('aria-invalid') === 'true',
    'the empty reason is marked invalid');

  // Approve with the requested grants.
  await card.getByRole('button', { name: 'Duyệt và cấp quyền' }).click();
  await status(page, `Đã duyệt ${app} ${version}`);
  await heading(page, new RegExp(`\\(${app}\\)$`));
  await t.shot(page, 'approved');

  // Canary for a quarter of callers, then complete.
  await page.getByLabel('Phiên bản cần triển khai').selectOption(version);
  await page.getByLabel('Tỷ lệ người dùng (%)').fill('25');
  await page.getByRole('button', { name: 'Triển khai theo tỷ lệ' }).click();
  await status(page, `Đang thử ${app} ${version} với 25 % người dùng`);
  t.check((await page.locator('#fact-canary').textContent()).includes(`${version} cho 25 %`), 'the canary and its share are shown');
  await t.shot(page, 'canary-25');

  await page.getByRole('button', { name: 'Hoàn tất (100 %)' }).click();
  await status(page, `${app} ${version} đã chạy cho mọi người dùng`);
  t.check((await page.locator('#fact-live').textContent()) === version, `the page shows ${version} live`);
  t.check(await servedVersion(page, t, app) === version, `${app} serves ${version} after the rollout`);
  await t.shot(page, 'rolled-out-100');

  // Roll back.
  await page.getByRole('button', { name: 'Quay lại phiên bản trước' }).click();
  await status(page, `Đã quay lại: ${app} đang chạy ${live}`);
  t.check((await page.locator('#fact-live').textContent()) === live, `the page shows ${live} live again`);
  t.check(await servedVersion(page, t, app) === live, `${app} serves ${live} after the rollback`);
  await page.getByRole('img', { name: /Yêu cầu theo nhóm mã trạng thái/ }).waitFor();
  await t.shot(page, 'rolled-back');

  // Suspend (a reason is required), then resume.
  await page.getByRole('button', { name: 'Tạm ngừng ứng dụng' }).click();
  await page.getByRole('alert').filter({ hasText: 'Hãy ghi lý do tạm ngừng.' }).waitFor();
  await page.getByLabel('Lý do tạm ngừng (công dân sẽ thấy)').fill('bảo trì định kỳ');
  await page.getByRole('button', { name: 'Tạm ngừng ứng dụng' }).click();
  await status(page, `Đã tạm ngừng ${app}`);
  const suspended = await page.request.get(`${t.base}/apps/${app}/`, { headers: { accept: 'application/json' } });
  t.check(suspended.status() === 503 && (await suspended.json()).error.code === 'app_suspended',
    `a suspended ${app} answers 503 app_suspended, not ${suspended.status()}`);
  await t.shot(page, 'suspended');
  await page.getByRole('button', { name: 'Cho hoạt động lại' }).click();
  await status(page, `${app} đã hoạt động lại`);
  t.check(await servedVersion(page, t, app) === live, `${app} serves ${live} again once resumed`);

  // The audit log shows each step, newest first, with its actor, each
  // detail said in Vietnamese from the host's catalogue.
  await page.getByRole('navigation').getByRole('link', { name: 'Nhật ký' }).click();
  await heading(page, 'Nhật ký kiểm toán');
  await page.getByLabel('Ứng dụng', { exact: true }).selectOption(app);
  await page.getByRole('button', { name: 'Lọc', exact: true }).click();
  await auditFiltered(page, { app });
  const results = page.getByRole('region', { name: 'Bản ghi nhật ký, mới nhất trước' });
  await results.waitFor();
  const rows = await results.getByRole('row').allTextContents();
  const find = (kind, detail) => rows.findIndex((r) => r.includes(kind) && r.includes(detail));
  const steps = {
    rollback: find('rollback', `Đã quay lại; phiên bản đang chạy: ${live}`),
    complete: find('rollout', 'Đang chạy cho mọi người'),
    canary: find('rollout', 'Chạy thử (canary) cho 25% người dùng'),
    approve: find('approve', 'Đã duyệt để triển khai'),
  };
  for (const [step, index] of Object.entries(steps)) {
    t.check(index > 0, `the audit log shows the ${step}:\n${rows.join('\n')}`);
    t.check(rows[index].includes('operator:configured') && rows[index].includes(version),
      `the ${step} names its actor and version: ${rows[index]}`);
  }
  const suspension = find('suspend', 'Tạm ngừng: bảo trì định kỳ');
  const resumption = find('resume', 'Đã cho hoạt động lại');
  t.check(!rows.some((r) => /rolled back|live for everyone|approved for rollout/.test(r)),
    `no English detail in the Vietnamese console:\n${rows.join('\n')}`);
  t.check(suspension > 0 && resumption > 0 && resumption < suspension && rows[suspension].includes('operator:configured'),
    `the audit log shows the suspension, then the resumption:\n${rows.join('\n')}`);
  t.check(steps.rollback < steps.complete && steps.complete < steps.canary && steps.canary < steps.approve,
    `newest first: ${JSON.stringify(steps)}`);
  await t.shot(page, 'audit-log');

  // Filter by kind; then page backwards three at a time.
  await page.getByLabel('Loại sự kiện').fill('rollout');
  await page.getByRole('button', { name: 'Lọc', exact: true }).click();
  await auditFiltered(page, { kind: 'rollout', app });
  const rollouts = (await results.getByRole('row').allTextContents()).slice(1);
  t.check(rollouts.length === 2 && rollouts.every((r) => r.includes('rollout')), `only the two rollouts:\n${rollouts.join('\n')}`);
  await page.goto('about:blank');
  await page.goto(`${t.base}/admin#/audit?app=${app}&limit=3`);
  await heading(page, 'Nhật ký kiểm toán');
  t.check(await results.getByRole('row').count() === 4, 'a page of three records');
  await page.getByRole('button', { name: 'Cũ hơn' }).click();
  await status(page, 'Đã tải thêm 3 bản ghi cũ hơn');
  t.check(await results.getByRole('row').count() === 7, 'three older records are appended');
  await t.shot(page, 'audit-older');

  // English, and back.
  await page.getByRole('button', { name: 'English' }).click();
  await heading(page, 'Audit log');
  t.check(await page.evaluate(() => document.documentElement.lang) === 'en', '<html lang> follows the language');
  const inEnglish = page.getByRole('region', { name: 'Audit records, newest first' });
  await inEnglish.waitFor();
  const english = (await inEnglish.getByRole('row').allTextContents()).join('\n');
  t.check(english.includes('resumed') && english.includes('suspended: bảo trì định kỳ') && !english.includes('Đã cho hoạt động lại'),
    `the details in English after the switch:\n${english}`);
  await t.shot(page, 'english');
  await page.getByRole('button', { name: 'Tiếng Việt' }).click();
  await heading(page, 'Nhật ký kiểm toán');

  // Sign out: the token is forgotten.
  await page.getByRole('button', { name: 'Đăng xuất' }).click();
  await heading(page, 'Đăng nhập bảng điều hành');
  t.check(await page.evaluate(() => sessionStorage.length) === 0, 'signing out forgets the token');

  // ---- Every view at 390 px and at desktop width.
  for (const [label, viewport] of [['mobile', MOBILE], ['desktop', DESKTOP]]) {
    const view = await t.page(viewport);
    await view.goto(`${t.base}/admin`);
    await heading(view, 'Đăng nhập bảng điều hành');
    if (label === 'mobile') await noHorizontalOverflow(view, t, 'sign-in');
    await t.axe(view, `${label}-sign-in`);
    await t.keyboard(view, `sign-in at ${label}`);
    await t.shot(view, `${label}-sign-in`);
    await signIn(view, t, t.operatorToken, true);
    await heading(view, 'Phiên bản chờ duyệt');
    const views = [
      ['reviews', '#/reviews', 'Phiên bản chờ duyệt'],
      ['apps', '#/apps', 'Ứng dụng'],
      ['app', `#/apps/${app}`, new RegExp(`\\(${app}\\)$`)],
      ['audit', '#/audit', 'Nhật ký kiểm toán'],
    ];
    for (const [what, hash, title] of views) {
      await view.goto(`${t.base}/admin${hash}`);
      await heading(view, title);
      if (what === 'app') {
        await view.getByRole('img', { name: /Độ trễ/ }).waitFor();
        await view.getByRole('img', { name: /Yêu cầu theo nhóm mã trạng thái/ }).waitFor();
      }
      if (what === 'apps') {
        t.check(await view.getByRole('link', { name: new RegExp(`\\(${app}\\)`) }).count() === 1, `the apps list links to ${app}`);
      }
      for (const button of await view.getByRole('button').all()) {
        if (!(await button.isVisible())) continue;
        const box = await button.boundingBox();
        t.check(box && box.height >= 44 - 0.5, `${what} at ${label}: "${await button.textContent()}" is ${box?.height}px tall`);
      }
      if (label === 'mobile') await noHorizontalOverflow(view, t, what);
      if (label === 'desktop' && what === 'audit') {
        // At 1280 px the whole log fits: the details column is not clipped.
        const clipped = await view.locator('table.audit').evaluate((table) => {
          const region = table.closest('.scroll');
          return region.scrollWidth - region.clientWidth;
        });
        t.check(clipped <= 1, `the audit table overflows its region by ${clipped}px at ${label}`);
      }
      await t.axe(view, `${label}-${what}`);
      await t.keyboard(view, `${what} at ${label}`);
      await t.shot(view, `${label}-${what}`);
    }
  }
}
