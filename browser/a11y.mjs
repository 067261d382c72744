// Accessibility checks the browser scenarios share, one home for them:
// axe-core on a page and on each of its frames (no serious or critical
// violation may remain), and the keyboard walk (Tab reaches every visible
// control, each one showing a visible focus indicator).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** The impacts that fail a check. */
const BLOCKING = new Set(['serious', 'critical']);

/** axe-core's violations in one frame. Injected by evaluation, as the
 *  pages' CSP (`script-src 'self'`) refuses an added script tag. */
async function violationsIn(frame) {
  // A plain-text answer (the `hello` sample's greeting) is no page to audit.
  if (await frame.evaluate(() => document.contentType) !== 'text/html') return [];
  await frame.evaluate(AXE);
  return frame.evaluate(async () => {
    const result = await window.axe.run(document, { iframes: false, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(' '), html: n.html.slice(0, 200) })),
    }));
  });
}

/** axe-core on `page` and each frame in it (a sandboxed app frame too):
 *  { frames: [{ url, violations }], blocking: [text…] }, where blocking
 *  lists the serious and critical violations. */
export async function audit(page) {
  const frames = [];
  for (const frame of page.frames()) {
    const url = frame.url();
    if (!url.startsWith('http')) continue;
    frames.push({ url, violations: await violationsIn(frame) });
  }
  const blocking = frames.flatMap(({ url, violations }) => violations
    .filter((v) => BLOCKING.has(v.impact))
    .map((v) => `${v.impact} ${v.id} (${v.help}) in ${url}: ${v.nodes.map((n) => n.target).join(', ')}`));
  return { frames, blocking };
}

/** Press Tab through `frame` of `page` (the page itself by default; a frame
 *  is entered from its element in the parent) until every visible control
 *  has had the focus. Returns { missed, unfocusedStyle, mouseOnly }: the
 *  controls Tab never reached, those whose focus shows no outline or
 *  shadow, and elements that look clickable (pointer cursor) but are no
 *  control a keyboard can reach. */
export async function walkKeyboard(page, frame = page.mainFrame()) {
  const controls = await frame.evaluate(() => {
    const selector = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, iframe, '
      + '[tabindex]:not([tabindex="-1"]), [contenteditable="true"]';
    // An open modal dialog makes the rest of the page inert.
    const modal = document.querySelector(':modal');
    // Shown: rendered (not in a closed <details> either), not disabled.
    const shown = (el) => {
      const box = el.getBoundingClientRect();
      return el.checkVisibility({ visibilityProperty: true }) && box.width > 0 && box.height > 0
        && !el.disabled && !el.closest('[inert]') && (!modal || modal.contains(el));
    };
    const list = [...document.querySelectorAll(selector)].filter(shown);
    list.forEach((el, i) => el.setAttribute('data-kbd', String(i)));
    const describe = (el) => `<${el.tagName.toLowerCase()}> ${(el.getAttribute('aria-label') || el.textContent || el.getAttribute('name') || el.id || '').trim().slice(0, 60)}`;
    const mouseOnly = [...document.body.querySelectorAll('*')]
      .filter((el) => getComputedStyle(el).cursor === 'pointer' && shown(el)
        && !el.closest(`${selector}, label`) && !el.querySelector(selector))
      .map(describe);
    return { names: list.map(describe), mouseOnly };
  });
  if (frame === page.mainFrame()) {
    // Start from the top of the page: focus a mark before everything.
    await frame.evaluate(() => {
      const start = document.createElement('span');
      start.tabIndex = -1;
      start.dataset.kbdStart = '';
      document.body.prepend(start);
      start.focus();
    });
  } else {
    await (await frame.frameElement()).focus();
  }
  const seen = new Map();
  const limit = controls.names.length * 2 + 10;
  for (let press = 0; press < limit && seen.size < controls.names.length; press += 1) {
    await page.keyboard.press('Tab');
    // Focus moving into an app's frame (another renderer process) lands
    // on the <iframe> only once that process answers: on a busy machine,
    // later than the press returns. Give it a moment before reading.
    await frame.waitForFunction(() => {
      const el = document.activeElement;
      return el && el !== document.body && !el.hasAttribute('data-kbd-start');
    }, null, { timeout: 500 }).catch(() => null);
    const focused = await frame.evaluate(() => {
      const el = document.activeElement;
      if (!el || !el.hasAttribute('data-kbd')) return null;
      const style = getComputedStyle(el);
      // Focus in a frame shows on the control inside it (walk the frame).
      const ring = el.tagName === 'IFRAME'
        || (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
        || (style.boxShadow && style.boxShadow !== 'none');
      return { index: Number(el.getAttribute('data-kbd')), ring };
    });
    if (focused && !seen.has(focused.index)) seen.set(focused.index, focused.ring);
  }
  await frame.evaluate(() => document.querySelector('[data-kbd-start]')?.remove());
  return {
    missed: controls.names.filter((_, i) => !seen.has(i)),
    unfocusedStyle: [...seen].filter(([, ring]) => !ring).map(([i]) => controls.names[i]),
    mouseOnly: controls.mouseOnly,
  };
}

/** Press Tab until the focused control's name (its aria-label or text)
 *  matches `pattern`, in `page` or in the frame that holds the focus;
 *  fails after `limit` presses. The keyboard-only flows use it. */
export async function tabTo(page, pattern, limit = 40) {
  for (let press = 0; press < limit; press += 1) {
    await page.keyboard.press('Tab');
    for (const frame of page.frames()) {
      const focused = await frame.evaluate(() => {
        const el = document.activeElement;
        return el && el !== document.body && el.tagName !== 'IFRAME'
          ? (el.getAttribute('aria-label') || el.textContent || '').trim() : null;
      }).catch(() => null);
      if (focused !== null && pattern.test(focused)) return focused;
    }
  }
  throw new Error(`Tab never reached a control named ${pattern}`);
}
