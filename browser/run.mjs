// Runs the browser scenarios (browser/scenarios/*.mjs) against a running
// Citadel host with Debian's chromium, headless, saving a screenshot of each
// step and each axe-core report under $CITADEL_ARTIFACTS. Started by
// host/tests/suite/browser.rs, which starts the real binary; exits non-zero if a
// scenario failed or none ran.
//
// Environment: CITADEL_BASE (http://127.0.0.1:PORT), CITADEL_OPERATOR_TOKEN,
// CITADEL_ARTIFACTS (a directory), CITADEL_SETUP (JSON from the Rust side),
// CITADEL_SCENARIOS (optional comma-separated names to run; a name that
// matches no scenario fails), CITADEL_SCENARIO_DIR (optional, default
// browser/scenarios/; an empty one fails), CHROMIUM.

import { chromium } from 'playwright-core';
import { readdir, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { audit, walkKeyboard } from './a11y.mjs';
import { WIDTHS } from './widths.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const base = process.env.CITADEL_BASE;
const artifacts = process.env.CITADEL_ARTIFACTS ?? path.join(here, 'artifacts');
const setup = JSON.parse(process.env.CITADEL_SETUP ?? '{}');
const only = (process.env.CITADEL_SCENARIOS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const scenarioDir = process.env.CITADEL_SCENARIO_DIR ?? path.join(here, 'scenarios');
if (!base) {
  console.error("CITADEL_BASE is not set; run through `tools/test -E 'test(/^browser::/)'`");
  process.exit(2);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** The scenarios to run, in file order: every one in `dir`, or those
 *  `only` names. Running none is a failure, never a pass: an empty folder,
 *  a filter that matches nothing, or a filter naming a missing scenario. */
async function selectScenarios(dir) {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.mjs')).sort();
  const selected = [];
  for (const file of files) {
    const scenario = await import(pathToFileURL(path.join(dir, file)).href);
    if (!only.length || only.includes(scenario.name)) selected.push(scenario);
  }
  const unknown = only.filter((name) => !selected.some((s) => s.name === name));
  if (unknown.length) throw new Error(`no scenario is named ${unknown.join(', ')} in ${dir}`);
  if (!selected.length) throw new Error(`no scenario to run in ${dir} (${files.length} files)`);
  return selected;
}

/** `promise`, or `fallback` after `ms` (a frame still loading never answers). */
function within(ms, promise, fallback) {
  return Promise.race([promise.catch((e) => `(${String(e?.message ?? e).split('\n')[0]})`),
    new Promise((resolve) => { setTimeout(() => resolve(fallback), ms); })]);
}

/** What a failed page showed, in words: its frames (address, load state,
 *  text) and the shell's iframes (address, class, size), so that a failure
 *  seen once in CI can be read without running it again. */
async function describe(page) {
  const lines = [`page ${page.url()}`];
  const iframes = await within(2000, page.evaluate(() => [...document.querySelectorAll('iframe')].map((f) => ({
    src: f.getAttribute('src'), class: f.className, connected: f.isConnected,
    size: `${f.offsetWidth}x${f.offsetHeight}`, display: getComputedStyle(f).display,
  }))), 'no answer');
  lines.push(`  iframe elements: ${JSON.stringify(iframes)}`);
  for (const frame of page.frames()) {
    const state = await within(2000, frame.evaluate(() => ({
      ready: document.readyState, text: (document.body?.innerText ?? '').replace(/\s+/g, ' ').slice(0, 300),
    })), 'no answer (still loading?)');
    lines.push(`  frame ${frame === page.mainFrame() ? 'main' : frame.url()}: ${JSON.stringify(state)}`);
  }
  return lines.join('\n');
}

async function main() {
  const scenarios = await selectScenarios(scenarioDir);
  await mkdir(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  let failed = 0;
  let ran = 0;
  for (const scenario of scenarios) {
    ran += 1;
    const consoleErrors = [];
    const contexts = [];
    let step = 0;
    const name = (label) => {
      step += 1;
      return path.join(artifacts, `${scenario.name}-${String(step).padStart(2, '0')}-${label}`);
    };
    const t = {
      base,
      setup,
      operatorToken: process.env.CITADEL_OPERATOR_TOKEN,
      widths: WIDTHS,
      check,
      /** A new page in a fresh browser context (no cookies) at `viewport`,
       *  with Playwright context `options` (geolocation, permissions…). */
      async page(viewport = WIDTHS.mobile, options = {}) {
        const context = await browser.newContext({ viewport, locale: 'vi-VN', ...options });
        contexts.push(context);
        const watch = (p) => {
          // A failed load names the page, not the resource: say which.
          p.on('console', (m) => {
            if (m.type() !== 'error') return;
            const from = m.location()?.url;
            consoleErrors.push(`${p.url()}: ${m.text()}${from && from !== p.url() ? ` (${from})` : ''}`);
          });
          p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: ${e.message}`));
        };
        // Every page of the context is watched: this one, and any other a
        // scenario or an app opens in it later.
        context.on('page', watch);
        return context.newPage();
      },
      /** Save a screenshot of `page` named after this scenario and step. */
      async shot(page, label) {
        const file = `${name(label)}.png`;
        await page.screenshot({ path: file, fullPage: true });
        return file;
      },
      /** axe-core on `page` and its frames, the report kept as an artifact;
       *  fails on any serious or critical violation. */
      async axe(page, label) {
        const report = await audit(page);
        await writeFile(`${name(`axe-${label}`)}.json`, JSON.stringify(report, null, 2));
        check(report.blocking.length === 0, `axe-core on ${label}:\n${report.blocking.join('\n')}`);
      },
      /** Tab through `page` (or its `frame`): every visible control is
       *  reached and shows its focus; nothing is clickable by mouse only. */
      async keyboard(page, label, frame = undefined) {
        const { missed, unfocusedStyle, mouseOnly } = await walkKeyboard(page, frame);
        check(missed.length === 0, `${label}: Tab never reaches ${missed.join('; ')}`);
        check(unfocusedStyle.length === 0, `${label}: no visible focus on ${unfocusedStyle.join('; ')}`);
        check(mouseOnly.length === 0, `${label}: clickable by mouse only: ${mouseOnly.join('; ')}`);
      },
      /** Errors the pages printed so far (expected ones filtered by `allow`). */
      consoleErrors(allow = () => false) {
        return consoleErrors.filter((e) => !allow(e));
      },
    };
    const started = Date.now();
    try {
      await scenario.run(t);
      const errors = t.consoleErrors(scenario.allowConsole ?? (() => false));
      check(errors.length === 0, `console errors:\n${errors.join('\n')}`);
      console.log(`ok   ${scenario.name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed += 1;
      console.error(`FAIL ${scenario.name}: ${error.stack ?? error}`);
      // What each open page showed when it failed, and what it printed.
      const pages = contexts.flatMap((context) => context.pages());
      for (const page of pages) {
        await page.screenshot({ path: `${name('FAILED')}.png`, fullPage: true }).catch(() => null);
        console.error(await describe(page).catch((e) => `page ${page.url()}: not described (${e})`));
      }
      if (consoleErrors.length) console.error(`console errors of ${scenario.name}:\n${consoleErrors.join('\n')}`);
    } finally {
      for (const context of contexts) await context.close();
    }
  }
  await browser.close();
  if (ran !== scenarios.length) throw new Error(`ran ${ran} of ${scenarios.length} scenarios`);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(`FAIL ${error.message ?? error}`);
  process.exit(1);
});
