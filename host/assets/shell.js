// The citizen shell: sign-in, the catalogue of live mini-apps, an app in a
// sandboxed frame inside the host's chrome, the host-drawn consent dialog,
// the inbox, "My permissions", "My data" (export and erasure) and payment
// history; offline, a notice and the catalogue its service worker (/sw.js)
// kept. Apps talk to the shell
// only by postMessage from their own frame; the shell alone calls the
// citizen API, with its same-origin session cookie.
'use strict';

(function () {
  const TEXT = {
    vi: {
      skip: 'Bỏ qua đến nội dung', brand: 'Citadel Huế', nav: 'Chính', apps: 'Ứng dụng', inbox: 'Hộp thư',
      permissions: 'Quyền của tôi', payments: 'Thanh toán', switch: 'English', signin: 'Đăng nhập',
      signout: 'Đăng xuất', allow: 'Đồng ý', deny: 'Không đồng ý', search: 'Tìm ứng dụng', all: 'Tất cả',
      noApps: 'Không có ứng dụng phù hợp.', back: 'Quay lại', appPermissions: 'Quyền của ứng dụng',
      by: 'Đơn vị cung cấp', noPermissions: 'Ứng dụng này không dùng quyền nào.',
      personal: 'cần bạn đồng ý', chooseCitizen: 'Chọn công dân (môi trường thử nghiệm)',
      signinUnavailable: 'Máy chủ này không có công dân thử nghiệm: hãy đăng nhập qua nhà cung cấp danh tính của thành phố.',
      signinOidc: 'Đăng nhập bằng tài khoản định danh của thành phố', signinOidcHint: 'Bạn sẽ được chuyển tới trang đăng nhập của nhà cung cấp định danh, rồi quay lại đây.',
      signinTitle: 'Đăng nhập', signinNeeded: 'Hãy đăng nhập để dùng mục này.', inboxEmpty: 'Chưa có tin nhắn.',
      open: 'Mở', consentsEmpty: 'Bạn chưa cấp quyền nào cho ứng dụng nào.', revoke: 'Thu hồi',
      revoked: 'Đã thu hồi quyền.', paymentsEmpty: 'Chưa có giao dịch.', consentTitle: 'cần bạn đồng ý',
      consentIntro: 'Ứng dụng xin dùng các thông tin sau. Bạn có thể thu hồi bất cứ lúc nào trong “Quyền của tôi”.',
      consentGiven: 'Đã ghi nhận sự đồng ý của bạn.', consentDenied: 'Bạn đã không đồng ý; ứng dụng sẽ không nhận thông tin này.',
      deniedWhat: 'Bạn đã không đồng ý chia sẻ: {what}. Ứng dụng không nhận được các thông tin này.',
      deniedHow: 'Những chức năng không cần các thông tin này vẫn dùng được. Khi cần, ứng dụng sẽ hỏi lại bạn.',
      continueApp: 'Tiếp tục dùng ứng dụng', backToApps: 'Về danh sách ứng dụng', permsShort: 'Quyền',
      error: 'Có lỗi', signedInAs: 'Đang đăng nhập:', frameTitle: 'Ứng dụng', since: 'từ',
      offline: 'Bạn đang ngoại tuyến. Danh sách ứng dụng là bản đã lưu; đăng nhập, hộp thư, thanh toán và các ứng dụng sẽ dùng được khi có mạng trở lại.',
      offlineTitle: 'Không có kết nối mạng', needsNetwork: 'Mục này cần kết nối mạng. Hãy thử lại khi có mạng.',
      myData: 'Dữ liệu của tôi', myDataLink: 'Xem, tải về hoặc xoá dữ liệu của tôi',
      myDataIntro: 'Citadel giữ hồ sơ của bạn từ nhà cung cấp định danh, các sự đồng ý, hộp thư, vị trí gần nhất, dữ liệu riêng của bạn trong từng ứng dụng và lịch sử thanh toán.',
      download: 'Tải về dữ liệu của tôi (JSON)',
      eraseTitle: 'Xoá dữ liệu của tôi',
      sessionsTitle: 'Đăng xuất trên mọi thiết bị',
      sessionsWhat: 'Nếu bạn mất điện thoại hoặc quên đăng xuất trên máy dùng chung, hãy kết thúc cùng lúc mọi phiên đăng nhập của bạn, kể cả phiên này.',
      signOutEverywhere: 'Đăng xuất khỏi mọi thiết bị',
      signedOutEverywhere: 'Đã kết thúc {sessions} phiên đăng nhập của bạn.',
      eraseWhat: 'Xoá các sự đồng ý, hộp thư, vị trí, liên kết của các ứng dụng với bạn và dữ liệu riêng của bạn trong mọi ứng dụng, rồi đăng xuất bạn trên mọi thiết bị. Không thể hoàn tác.',
      eraseKept: 'Lịch sử thanh toán và nhật ký kiểm toán được giữ lại vì thành phố phải lưu chứng từ kế toán. Dữ liệu chung mà một ứng dụng tự lưu ngoài Citadel do đơn vị cung cấp ứng dụng đó trả lời.',
      eraseConfirm: 'Tôi hiểu rằng việc xoá không thể hoàn tác',
      eraseButton: 'Xoá dữ liệu của tôi',
      erased: 'Đã xoá dữ liệu của bạn ({keys} mục trong {apps} ứng dụng) và đăng xuất trên mọi thiết bị.',
      erasing: 'Đã xoá hồ sơ của bạn và đăng xuất trên mọi thiết bị. Dữ liệu của bạn trong các ứng dụng sẽ được hệ thống xoá nốt trong vài phút.',
      eraseFailed: 'Chưa xoá được dữ liệu của bạn vì hệ thống đang bận. Hãy thử lại sau ít phút.',
      requestCode: 'Mã yêu cầu',
      returned: 'Nhà cung cấp thanh toán đã thu thêm {amount} cho khoản này và được yêu cầu hoàn lại cho bạn.',
      status: { pending: 'Chờ xác nhận', captured: 'Đã thanh toán', cancelled: 'Đã hủy', expired: 'Hết hạn', refunded: 'Đã hoàn tiền' },
    },
    en: {
      skip: 'Skip to content', brand: 'Citadel Huế', nav: 'Main', apps: 'Apps', inbox: 'Inbox',
      permissions: 'My permissions', payments: 'Payments', switch: 'Tiếng Việt', signin: 'Sign in',
      signout: 'Sign out', allow: 'Allow', deny: 'Don’t allow', search: 'Find an app', all: 'All',
      noApps: 'No app matches.', back: 'Back', appPermissions: 'App permissions', by: 'Provided by',
      noPermissions: 'This app uses no permission.', personal: 'needs your consent',
      chooseCitizen: 'Choose a citizen (test environment)', signinTitle: 'Sign in',
      signinOidc: 'Sign in with the city\'s identity account', signinOidcHint: 'You will go to the identity provider\'s sign-in page, then come back here.',
      signinUnavailable: 'This host has no test citizens: sign in through the city\'s identity provider.',
      signinNeeded: 'Sign in to use this.', inboxEmpty: 'No messages yet.', open: 'Open',
      consentsEmpty: 'You have not allowed any app anything.', revoke: 'Revoke', revoked: 'Permission revoked.',
      paymentsEmpty: 'No payments yet.', consentTitle: 'asks for your consent',
      consentIntro: 'The app asks to use the following. You can revoke it at any time in “My permissions”.',
      consentGiven: 'Your consent is recorded.', consentDenied: 'You did not allow it; the app gets nothing.',
      deniedWhat: 'You did not share: {what}. The app does not get it.',
      deniedHow: 'What does not need it still works. The app will ask again when it needs it.',
      continueApp: 'Continue in the app', backToApps: 'Back to the apps', permsShort: 'Access',
      error: 'Error', signedInAs: 'Signed in:', frameTitle: 'App', since: 'since',
      offline: 'You are offline. The list of apps is the saved copy; sign-in, the inbox, payments and the apps work again when you are back online.',
      offlineTitle: 'No network connection', needsNetwork: 'This needs a network connection. Try again when you are back online.',
      myData: 'My data', myDataLink: 'See, download or erase my data',
      myDataIntro: 'Citadel keeps your profile from the identity provider, your consents, your inbox, your last position, your own data in each app and your payment history.',
      download: 'Download my data (JSON)',
      eraseTitle: 'Erase my data',
      sessionsTitle: 'Sign out everywhere',
      sessionsWhat: 'If you lost a phone or left a shared computer signed in, end every session of yours at once, this one included.',
      signOutEverywhere: 'Sign out on every device',
      signedOutEverywhere: 'Ended {sessions} of your sessions.',
      eraseWhat: 'Erases your consents, inbox, position, the apps\' links to you and your own data in every app, then signs you out on every device. This cannot be undone.',
      eraseKept: 'Your payment history and the audit log are kept: the city must keep its accounting records. Shared data an app keeps outside Citadel is for that app\'s provider to answer for.',
      eraseConfirm: 'I understand that erasing cannot be undone',
      eraseButton: 'Erase my data',
      erased: 'Your data is erased ({keys} entries in {apps} apps) and you are signed out on every device.',
      erasing: 'Your records are erased and you are signed out on every device. What apps keep of you is erased by the host within minutes.',
      eraseFailed: 'Your data could not be erased: the host is busy. Try again in a few minutes.',
      requestCode: 'Request code',
      returned: 'The payment provider also took {amount} for this and is asked to pay it back to you.',
      status: { pending: 'Waiting', captured: 'Paid', cancelled: 'Cancelled', expired: 'Expired', refunded: 'Refunded' },
    },
  };
  let lang = localStorage.getItem('citadel.lang') === 'en' ? 'en' : 'vi';
  const t = (key) => TEXT[lang][key] ?? key;
  const main = document.getElementById('main');
  const status = document.getElementById('status');
  let me = null;
  // How this host signs citizens in (`/api/v1/session`): `oidc` (the city's provider), `development` or `none`.
  let signIn = null;
  let catalogue = [];
  let category = '';
  let openApp = null; // { id, frame, base }
  // No network: the page and the catalogue come from the service worker's copy.
  let offline = !navigator.onLine;

  // --- helpers -------------------------------------------------------------
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
    return node;
  }
  const name = (localized) => (localized ? localized[lang] || localized.vi : '');
  function say(text) {
    status.textContent = text;
    clearTimeout(say.timer);
    say.timer = setTimeout(() => { status.textContent = ''; }, 5000);
  }
  function showOffline(now) {
    offline = now;
    document.getElementById('offline').classList.toggle('hidden', !offline);
    // The device says it is online, yet the host did not answer: try again soon.
    clearTimeout(showOffline.retry);
    if (offline && navigator.onLine) showOffline.retry = setTimeout(recheck, 5000);
  }
  /** Whether the host answers again: then everything anew (a failure
   *  schedules the next try). */
  async function recheck() {
    if (await api('/api/v1/session').then(() => true, () => false)) start();
  }
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, {
        credentials: 'same-origin',
        headers: options.body ? { 'content-type': 'application/json' } : {},
        ...options,
        body: options.body ? JSON.stringify(options.body) : undefined,
      });
    } catch {
      // No answer at all: the network is gone (an HTTP error is an answer).
      showOffline(true);
      const error = new Error(t('needsNetwork'));
      error.offline = true;
      throw error;
    }
    // The service worker's saved copy (of the catalogue) is marked.
    showOffline(response.headers.has('x-citadel-offline'));
    if (response.status === 204) return null;
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error((body.error && body.error.message) || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = body.error && body.error.code;
      error.body = body.error;
      error.explanation = body.error && body.error.explanation;
      error.requestId = body.error && body.error.request_id;
      throw error;
    }
    return body;
  }
  /** Every live app: the catalogue's pages, following `next` to the last. */
  async function loadCatalogue() {
    const apps = [];
    let next = null;
    do {
      const after = next ? `&after=${encodeURIComponent(next)}` : '';
      const page = await api(`/api/v1/apps?limit=500${after}`);
      apps.push(...page.apps);
      next = page.apps.length ? page.next : null;
    } while (next);
    return apps;
  }
  const vnd = (amount) => `${amount.toLocaleString('vi-VN')} ₫`;
  // Times as the city writes them, in both languages: dd/mm/yyyy HH:MM, Huế's time.
  const HUE_TIME = new Intl.DateTimeFormat('vi-VN', {
    timeZone: 'Asia/Ho_Chi_Minh', day: '2-digit', month: '2-digit', year: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });
  const when = (ms) => {
    const p = Object.fromEntries(HUE_TIME.formatToParts(new Date(ms)).map((part) => [part.type, part.value]));
    return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
  };
  /** What the citizen is told of a failed call: the host's explanation in
   *  their language, with the request code for support; without one (no
   *  answer, or not the host's), the error's own text. */
  function explain(error) {
    return window.citadelExplain(error.body, lang, t('requestCode'))
      || (error.status ? `${t('error')} (HTTP ${error.status})` : error.message);
  }
  function view(title, ...content) {
    main.replaceChildren(el('h1', { text: title }), ...content);
    document.title = `${title} · Citadel Huế`;
  }
  function needNetwork() {
    view(t('offlineTitle'), el('p', { text: t('needsNetwork') }), el('a', { class: 'button', href: '#/', text: t('backToApps') }));
  }
  function needSignIn() {
    view(t('signinTitle'), el('p', { text: t('signinNeeded') }), el('a', { class: 'button', href: '#/signin', text: t('signin') }));
  }

  // --- chrome ----------------------------------------------------------------
  function translateChrome() {
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
    for (const node of document.querySelectorAll('[data-t-label]')) node.setAttribute('aria-label', t(node.dataset.tLabel));
    document.getElementById('who').textContent = me ? `${t('signedInAs')} ${me.name}` : '';
    document.getElementById('signin').classList.toggle('hidden', !!me);
    document.getElementById('signout').classList.toggle('hidden', !me);
  }
  document.getElementById('lang').addEventListener('click', () => {
    lang = lang === 'vi' ? 'en' : 'vi';
    localStorage.setItem('citadel.lang', lang);
    translateChrome();
    route();
  });
  document.getElementById('signout').addEventListener('click', async () => {
    const out = await api('/api/v1/logout', { method: 'POST' }).catch(() => null);
    me = null;
    // Signed in by an OpenID provider: end its session too.
    if (out && out.end_session_url) { location.assign(out.end_session_url); return; }
    translateChrome();
    location.hash = '#/';
  });

  // --- views -------------------------------------------------------------------
  async function showCatalogue() {
    const search = el('input', { id: 'search', type: 'search', autocomplete: 'off' });
    const list = el('ul', { class: 'grid', 'aria-live': 'polite' });
    const categoryNames = Object.fromEntries(catalogue.map((a) => [a.category, a.category_name]));
    const categoryName = (c) => name(categoryNames[c]) || c;
    const categories = Object.keys(categoryNames).sort((a, b) => categoryName(a).localeCompare(categoryName(b), lang));
    const chips = el('div', { class: 'chips', role: 'group', 'aria-label': t('apps') },
      ['', ...categories].map((c) => el('button', {
        type: 'button', 'aria-pressed': String(c === category), text: c ? categoryName(c) : t('all'),
        onclick: () => {
          category = c;
          showCatalogue();
          // The chips are drawn anew: the keyboard stays on the chosen one.
          main.querySelector('.chips [aria-pressed="true"]').focus();
        },
      })));
    const fold = (s) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/đ/gi, 'd').toLowerCase();
    const render = () => {
      const q = fold(search.value.trim());
      const apps = catalogue.filter((a) => (!category || a.category === category)
        && (!q || fold(`${name(a.name)} ${name(a.description)} ${a.publisher.name}`).includes(q)));
      list.replaceChildren(...(apps.length ? apps.map((a) => el('li', { class: 'card' },
        el('a', { class: 'open', href: `#/app/${a.id}` },
          el('span', { class: 'icon', 'aria-hidden': 'true', text: a.icon || '▦' }),
          el('span', {}, el('strong', { text: name(a.name) }), el('br'),
            el('span', { class: 'muted', text: name(a.description) }), el('br'),
            el('span', { class: 'badge', text: categoryName(a.category) }), ' ',
            el('span', { class: 'muted', text: a.publisher.name }))))) : [el('li', { text: t('noApps') })]));
    };
    search.addEventListener('input', render);
    view(t('apps'), el('label', { for: 'search', text: t('search') }), search, chips, list);
    render();
  }

  async function showSignIn() {
    if (signIn && signIn.kind === 'oidc') {
      const back = `${location.pathname}${location.hash === '#/signin' ? '#/' : location.hash}`;
      view(t('signinTitle'), el('p', { text: t('signinOidcHint') }),
        el('a', { class: 'button', id: 'oidc-signin', href: `${signIn.url}?return=${encodeURIComponent(back)}`, text: t('signinOidc') }));
      return;
    }
    let citizens;
    try {
      ({ citizens } = await api('/api/v1/login/citizens'));
    } catch (error) {
      // Outside development mode (`citadel serve --dev`) there are none.
      if (error.status === 404) { view(t('signinTitle'), el('p', { text: t('signinUnavailable') })); return; }
      throw error;
    }
    view(t('signinTitle'), el('p', { text: t('chooseCitizen') }),
      el('ul', { class: 'plain' }, citizens.map((c) => el('li', { class: 'card row' },
        el('span', {}, el('strong', { text: c.name }), c.roles.length ? el('span', { class: 'muted', text: ` · ${c.roles.join(', ')}` }) : null),
        el('button', {
          type: 'button', 'data-citizen': c.id, text: t('signin'), 'aria-label': `${t('signin')}: ${c.name}`,
          onclick: async () => {
            await api('/api/v1/login', { method: 'POST', body: { citizen: c.id } });
            me = (await api('/api/v1/session')).citizen;
            translateChrome();
            location.hash = '#/';
          },
        })))));
  }

  function shareLocation(app) {
    const wantsLocation = app.capabilities.some((c) => c.name === 'location');
    if (!me || !wantsLocation || !navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition((p) => {
      api('/api/v1/me/location', { method: 'PUT', body: { lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy } })
        .catch(() => null);
    }, () => null, { maximumAge: 60000, timeout: 10000 });
  }

  async function showApp(id, path) {
    // (Also reopened when the frame's token expired: offline, say so.)
    if (offline) { needNetwork(); return; }
    // An app the catalogue leaves out (a developer sample) opens by its address.
    const app = catalogue.find((a) => a.id === id)
      || await api(`/api/v1/apps/${encodeURIComponent(id)}`).catch(() => null);
    if (!app) { view(t('apps'), el('p', { text: t('noApps') })); return; }
    shareLocation(app);
    const perms = el('div', { class: 'perms hidden', id: 'app-perms' },
      el('h2', { text: t('appPermissions') }),
      app.capabilities.length ? el('ul', {}, app.capabilities.map((c) => el('li', {},
        el('strong', { text: name(c.label) }), ` — ${name(c.summary)}`,
        c.personal ? el('span', { class: 'badge', text: ` ${t('personal')}` }) : null,
        c.purpose ? el('div', { class: 'muted', text: name(c.purpose) }) : null))) : el('p', { text: t('noPermissions') }));
    // Labelled buttons whose visible text is short on a phone (the labels
    // stay whole for screen readers).
    const toggle = el('button', {
      type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': 'app-perms', 'aria-label': t('appPermissions'),
      onclick: () => {
        const hidden = perms.classList.toggle('hidden');
        toggle.setAttribute('aria-expanded', String(!hidden));
      },
    });
    const frame = el('iframe', {
      class: 'frame', title: `${t('frameTitle')}: ${name(app.name)}`,
      sandbox: 'allow-scripts allow-forms allow-popups allow-modals allow-downloads',
      referrerpolicy: 'no-referrer',
    });
    toggle.append(el('span', { class: 'wide', 'aria-hidden': 'true', text: t('appPermissions') }),
      el('span', { class: 'narrow', 'aria-hidden': 'true', text: t('permsShort') }));
    const back = el('button', { type: 'button', class: 'secondary', 'aria-label': t('back'), onclick: () => { location.hash = '#/'; } },
      el('span', { 'aria-hidden': 'true', text: '←' }), el('span', { class: 'wide', 'aria-hidden': 'true', text: t('back') }));
    const chrome = el('div', { class: 'chrome' },
      back,
      el('span', { class: 'icon', 'aria-hidden': 'true', text: app.icon || '▦' }),
      el('div', { class: 'title' }, el('h1', { text: name(app.name) }),
        el('span', { class: 'muted', text: `${t('by')}: ${app.publisher.name}` })),
      toggle);
    document.body.classList.add('in-app');
    main.replaceChildren(chrome, perms, frame);
    document.title = `${name(app.name)} · Citadel Huế`;
    let base = `/apps/${id}`;
    if (me) {
      const opened = await api('/api/v1/me/frames', { method: 'POST', body: { app: id } });
      base = opened.url.replace(/\/$/, '');
    }
    const start = window.citadelIsLocalPath(path) ? path : '/';
    openApp = { id, app, frame, base };
    frame.src = `${base}${start}`;
  }

  async function showInbox() {
    if (!me) { needSignIn(); return; }
    const { messages } = await api('/api/v1/me/inbox');
    const appName = (id) => name((catalogue.find((a) => a.id === id) || {}).name) || id;
    view(t('inbox'), messages.length ? el('ul', { class: 'plain' }, messages.map((m) => el('li', { class: 'card' },
      el('div', { class: 'row' }, el('strong', { text: m.title }), el('span', { class: 'muted', text: when(m.at) })),
      el('p', { text: m.body }),
      el('div', { class: 'row' }, el('span', { class: 'badge', text: appName(m.app) }),
        m.link ? el('a', { href: `#/app/${m.app}?path=${encodeURIComponent(m.link)}`, text: t('open') }) : null)))) : el('p', { text: t('inboxEmpty') }));
  }

  async function showPermissions() {
    if (!me) { needSignIn(); return; }
    const { consents } = await api('/api/v1/me/consents');
    const byApp = new Map();
    for (const c of consents) byApp.set(c.app, [...(byApp.get(c.app) || []), c]);
    view(t('permissions'), byApp.size ? el('ul', { class: 'plain' }, [...byApp].map(([app, list]) => {
      const info = catalogue.find((a) => a.id === app);
      return el('li', { class: 'card' }, el('h2', { text: info ? name(info.name) : app }),
        el('ul', { class: 'plain' }, list.map((c) => el('li', { class: 'row' },
          el('span', {}, el('strong', { text: name(c.label) || c.scope }), el('br'), el('span', { class: 'muted', text: `${c.purpose} · ${t('since')} ${when(c.granted_at * 1000)}` })),
          el('button', {
            type: 'button', class: 'secondary', text: t('revoke'), 'aria-label': `${t('revoke')}: ${name(c.label) || c.scope} (${info ? name(info.name) : app})`,
            onclick: async () => {
              await api(`/api/v1/me/consents/${encodeURIComponent(app)}?scope=${encodeURIComponent(c.scope)}`, { method: 'DELETE' });
              say(t('revoked'));
              showPermissions();
            },
          })))));
    })) : el('p', { text: t('consentsEmpty') }),
    el('p', {}, el('a', { href: '#/data', text: t('myDataLink') })));
  }

  async function showMyData() {
    if (!me) { needSignIn(); return; }
    const download = el('button', {
      type: 'button', id: 'download', text: t('download'),
      onclick: async () => {
        download.disabled = true;
        try {
          const data = await api('/api/v1/me/data');
          const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
          el('a', { href: url, download: 'citadel-data.json' }).click();
          setTimeout(() => URL.revokeObjectURL(url), 60000);
        } catch (error) {
          say(explain(error));
        } finally {
          download.disabled = false;
        }
      },
    });
    const confirm = el('input', { id: 'erase-confirm', type: 'checkbox' });
    const erase = el('button', {
      type: 'button', id: 'erase', class: 'danger', text: t('eraseButton'), disabled: true,
      onclick: async () => {
        erase.disabled = true;
        let done;
        try {
          done = await api('/api/v1/me/data', { method: 'DELETE' });
        } catch (error) {
          // Refused, or the store failed before anything was erased.
          erase.disabled = !confirm.checked;
          say(error.status === 503 ? t('eraseFailed') : explain(error));
          return;
        }
        me = null;
        translateChrome();
        location.hash = '#/';
        say(done.finished
          ? t('erased').replace('{keys}', done.app_keys).replace('{apps}', done.apps.length)
          : t('erasing'));
      },
    });
    confirm.addEventListener('change', () => { erase.disabled = !confirm.checked; });
    const everywhere = el('button', {
      type: 'button', id: 'sign-out-everywhere', text: t('signOutEverywhere'),
      onclick: async () => {
        everywhere.disabled = true;
        let out;
        try {
          out = await api('/api/v1/me/sessions', { method: 'DELETE' });
        } catch (error) {
          everywhere.disabled = false;
          say(explain(error));
          return;
        }
        me = null;
        // Signed in by an OpenID provider: end its session too.
        if (out.end_session_url) { location.assign(out.end_session_url); return; }
        translateChrome();
        location.hash = '#/';
        say(t('signedOutEverywhere').replace('{sessions}', out.sessions));
      },
    });
    view(t('myData'),
      el('p', { text: t('myDataIntro') }),
      el('p', {}, download),
      el('section', { class: 'card', 'aria-labelledby': 'sessions-title' },
        el('h2', { id: 'sessions-title', text: t('sessionsTitle') }),
        el('p', { text: t('sessionsWhat') }),
        everywhere),
      el('section', { class: 'card', 'aria-labelledby': 'erase-title' },
        el('h2', { id: 'erase-title', text: t('eraseTitle') }),
        el('p', { text: t('eraseWhat') }),
        el('p', { class: 'muted', text: t('eraseKept') }),
        el('p', { class: 'check' }, confirm, el('label', { for: 'erase-confirm', text: t('eraseConfirm') })),
        erase));
  }

  async function showPayments() {
    if (!me) { needSignIn(); return; }
    const { payments } = await api('/api/v1/me/payments');
    view(t('payments'), payments.length ? el('ul', { class: 'plain' }, payments.map((p) => el('li', { class: 'card' },
      el('div', { class: 'row' }, el('strong', { text: vnd(p.amount) }), el('span', { class: 'badge', text: t('status')[p.status] || p.status })),
      el('p', { text: p.description }),
      p.returned ? el('p', { text: t('returned').replace('{amount}', vnd(p.returned)) }) : null,
      el('span', { class: 'muted', text: `${p.merchant} · ${when(p.created_at)}` })))) : el('p', { text: t('paymentsEmpty') }));
  }

  // --- consent dialog and messages from the app's frame ----------------------
  const dialog = document.getElementById('consent');
  async function askConsent(scopes, retry) {
    const app = openApp.app;
    const known = scopes.filter((s) => app.capabilities.some((c) => c.name === s && c.personal));
    if (!known.length) return;
    document.getElementById('consent-title').textContent = `${name(app.name)} ${t('consentTitle')}`;
    document.getElementById('consent-intro').textContent = t('consentIntro');
    document.getElementById('consent-scopes').replaceChildren(...known.map((s) => {
      const c = app.capabilities.find((x) => x.name === s);
      return el('li', {}, el('strong', { text: name(c.label) }), ` — ${name(c.summary)}`, c.purpose ? el('div', { text: name(c.purpose) }) : null);
    }));
    dialog.returnValue = '';
    dialog.showModal();
    document.getElementById('consent-allow').focus();
    dialog.onclose = async () => {
      if (dialog.returnValue !== 'allow') { say(t('consentDenied')); showDenied(app, known); return; }
      try {
        await api('/api/v1/me/consents', { method: 'POST', body: { app: app.id, scopes: known } });
        say(t('consentGiven'));
        const again = retry && retry.startsWith(`${openApp.base}/`) ? retry : `${openApp.base}/`;
        openApp.frame.src = again;
      } catch (error) {
        say(explain(error));
      }
    };
  }

  /** After "Don't allow": say what the app did not get, and the ways on. */
  function showDenied(app, scopes) {
    if (!openApp || openApp.app !== app) return;
    const { frame, base } = openApp;
    const what = scopes.map((s) => name((app.capabilities.find((c) => c.name === s) || {}).label) || s).join(', ');
    const card = el('div', { class: 'card denied', role: 'status' },
      el('p', { text: t('deniedWhat').replace('{what}', what) }),
      el('p', { class: 'muted', text: t('deniedHow') }),
      el('div', { class: 'row' },
        el('button', {
          type: 'button', text: t('continueApp'),
          onclick: () => { card.remove(); frame.classList.remove('hidden'); frame.src = `${base}/`; },
        }),
        el('a', { class: 'button secondary', href: '#/', text: t('backToApps') })));
    frame.classList.add('hidden');
    frame.before(card);
    card.querySelector('button').focus();
  }

  window.addEventListener('message', (event) => {
    if (!openApp || event.source !== openApp.frame.contentWindow) return;
    const message = event.data || {};
    if (message.type === 'citadel:consent' && Array.isArray(message.scopes)) {
      askConsent(message.scopes.map(String), typeof message.retry === 'string' ? message.retry : null);
    } else if (message.type === 'citadel:pay' && /^[A-Za-z0-9_-]+$/.test(String(message.intent))) {
      const then = window.citadelIsLocalPath(message.then) ? message.then : '';
      const back = `/#/app/${openApp.id}${then ? `?path=${encodeURIComponent(then)}` : ''}`;
      location.assign(`/pay/${message.intent}?return=${encodeURIComponent(back)}`);
    } else if (message.type === 'citadel:expired') {
      showApp(openApp.id);
    }
  });

  // --- routing -----------------------------------------------------------------
  // Views draw one at a time, in the order asked: a view still waiting for
  // the host (the permissions, say) never draws over the one the citizen
  // went on to (an app).
  let routing = Promise.resolve();
  function route() {
    routing = routing.then(drawView, drawView);
    return routing;
  }
  async function drawView() {
    const hash = location.hash || '#/';
    const [pathPart, query] = hash.slice(1).split('?');
    const params = new URLSearchParams(query || '');
    for (const link of document.querySelectorAll('.bar nav a')) {
      link.toggleAttribute('aria-current', false);
      if (link.getAttribute('href') === `#${pathPart}`) link.setAttribute('aria-current', 'page');
    }
    openApp = null;
    document.body.classList.remove('in-app');
    try {
      // Offline, the catalogue alone works: every other view needs the host.
      if (offline && pathPart !== '/' && pathPart !== '') needNetwork();
      else if (pathPart.startsWith('/app/')) await showApp(decodeURIComponent(pathPart.slice(5)), params.get('path'));
      else if (pathPart === '/signin') await showSignIn();
      else if (pathPart === '/inbox') await showInbox();
      else if (pathPart === '/permissions') await showPermissions();
      else if (pathPart === '/payments') await showPayments();
      else if (pathPart === '/data') await showMyData();
      else await showCatalogue();
    } catch (error) {
      if (error.status === 401) {
        // Signed out meanwhile (elsewhere, or expired): say so everywhere.
        me = null;
        translateChrome();
        needSignIn();
      } else if (error.offline) needNetwork();
      else if (error.explanation) {
        view(name(error.explanation.title), el('p', { text: name(error.explanation.next) }),
          error.requestId ? el('p', { class: 'muted', text: `${t('requestCode')}: ${error.requestId}` }) : null,
          el('a', { class: 'button', href: '#/', text: t('backToApps') }));
      } else view(t('error'), el('p', { text: explain(error) }));
    }
  }
  // A view needs to know who is signed in and how one signs in: a hash
  // change while the page is still starting waits for that first.
  window.addEventListener('hashchange', async () => {
    await starting.catch(() => null);
    route();
    main.focus({ preventScroll: true });
  });

  let starting = Promise.resolve();
  function start() {
    starting = loadAndRoute();
    return starting;
  }
  /** Who is signed in and the catalogue, then the view; offline, no one
   *  and the service worker's copy of the catalogue (or none yet). */
  async function loadAndRoute() {
    const unlessOffline = (fallback) => (error) => { if (error.offline) return fallback; throw error; };
    ({ citizen: me, sign_in: signIn } = await api('/api/v1/session')
      .catch(unlessOffline({ citizen: null, sign_in: signIn })));
    catalogue = await loadCatalogue().catch(unlessOffline(catalogue));
    translateChrome();
    route();
  }
  window.addEventListener('offline', () => showOffline(true));
  window.addEventListener('online', () => { showOffline(false); start(); });
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => null);
  showOffline(offline);
  start();
})();
