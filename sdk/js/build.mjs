#!/usr/bin/env node
// citadel-js-build: one mini-app folder (manifest.toml, src/main.ts or
// src/main.js) to one WebAssembly component. Type-checks TypeScript, bundles
// the app with the SDK (esbuild), writes a WIT world that imports exactly the
// contract interfaces the bundle uses, and componentizes it (componentize-js).
// Installs the SDK's own packages first (`npm ci`, the lockfile's versions)
// when they are missing or older than the lockfile.
//
//   node sdk/js/build.mjs APP_DIR [--out FILE]   (default APP_DIR/dist/<component>)

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SDK = dirname(fileURLToPath(import.meta.url));
const WIT = resolve(SDK, '..', 'wit');
const CONTRACT = 'citadel:miniapp';
const HTTP = 'wasi:http';
// The WASI version the contract's world exports and imports.
const WASI_HTTP_VERSION = '0.2.12';

function fail(message) {
  console.error(`citadel-js-build: ${message}`);
  process.exit(1);
}

/** The manifest's `component` value (one `key = "value"` line, as the host's build reads it). */
function componentName(appDir) {
  const path = join(appDir, 'manifest.toml');
  if (!existsSync(path)) fail(`${path} does not exist`);
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*component\s*=\s*"([^"]+)"/.exec(line);
    if (match) return match[1];
  }
  fail(`${path} has no \`component = "…"\` line`);
}

/** Run a tool of the SDK's own node_modules; fail with its output if it fails. */
function run(what, args, cwd) {
  const result = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) fail(`${what} failed:\n${result.stdout}${result.stderr}`);
}

/** `npm ci` in the SDK when its packages are missing or older than its lockfile. */
function ensureInstalled() {
  const installed = join(SDK, 'node_modules', '.package-lock.json');
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(join(SDK, 'package-lock.json')).mtimeMs) return;
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: SDK, encoding: 'utf8' });
  if (npm.error) fail(`npm could not be run (${npm.error.message}); install npm beside node (Debian: apt-get install npm)`);
  if (npm.status !== 0) fail(`npm ci in ${SDK} failed:\n${npm.stdout}${npm.stderr}`);
}

/** The contract's TypeScript types, generated from ../wit by jco when the WIT is newer. */
function generateTypes() {
  const marker = join(SDK, 'generated', 'miniapp.d.ts');
  const witTime = statSync(join(WIT, 'citadel.wit')).mtimeMs;
  if (existsSync(marker) && statSync(marker).mtimeMs >= witTime) return;
  run('generating the contract types (jco guest-types)', [
    join(SDK, 'node_modules', '@bytecodealliance', 'jco', 'src', 'jco.js'),
    'guest-types', WIT, '--world-name', `${CONTRACT}/miniapp`, '--out-dir', join(SDK, 'generated'), '--quiet',
  ], SDK);
}

/** The contract's version, as its WIT package line says it. */
function contractVersion() {
  const match = /^package\s+citadel:miniapp@([^;\s]+);/m.exec(readFileSync(join(WIT, 'citadel.wit'), 'utf8'));
  return match ? match[1] : fail(`${join(WIT, 'citadel.wit')} has no \`package ${CONTRACT}@…;\` line`);
}

/** The WIT world of this app: the contract interfaces and WASI HTTP imports
 *  `imports` names; it exports wasi:http, and the contract's one-call
 *  `handler` when the app exports one (`serveWhole`). */
function writeWorld(imports, exportsHandler) {
  const dir = mkdtempSync(join(tmpdir(), 'citadel-world-'));
  mkdirSync(join(dir, 'deps', 'citadel-miniapp'), { recursive: true });
  cpSync(join(WIT, 'citadel.wit'), join(dir, 'deps', 'citadel-miniapp', 'citadel.wit'));
  cpSync(join(WIT, 'deps'), join(dir, 'deps'), { recursive: true });
  const lines = imports.map((name) => `  import ${name};`);
  if (exportsHandler) lines.push(`  export ${CONTRACT}/handler@${contractVersion()};`);
  writeFileSync(
    join(dir, 'app.wit'),
    `package citadel:app;\n\nworld app {\n${lines.join('\n')}\n  export ${HTTP}/incoming-handler@${WASI_HTTP_VERSION};\n}\n`,
  );
  return dir;
}

async function main() {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const out = outAt >= 0 ? resolve(args[outAt + 1] ?? fail('--out needs a file')) : undefined;
  const positional = outAt < 0 ? args : args.filter((_, i) => i !== outAt && i !== outAt + 1);
  if (positional.length !== 1) fail('usage: citadel-js-build APP_DIR [--out FILE]');
  const appDir = resolve(positional[0]);
  const target = out ?? join(appDir, 'dist', componentName(appDir));
  const entry = ['src/main.ts', 'src/main.js'].map((p) => join(appDir, p)).find(existsSync);
  if (!entry) fail(`${appDir} has neither src/main.ts nor src/main.js`);

  ensureInstalled();
  const { componentize } = await import('@bytecodealliance/componentize-js');
  const { build } = await import('esbuild');
  generateTypes();
  if (entry.endsWith('.ts') && existsSync(join(appDir, 'tsconfig.json'))) {
    run('type-checking (tsc)', [join(SDK, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', appDir], appDir);
  }

  const work = mkdtempSync(join(tmpdir(), 'citadel-build-'));
  try {
    const bundle = join(work, 'app.js');
    const result = await build({
      entryPoints: [entry],
      outfile: bundle,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      external: [`${CONTRACT}/*`, 'wasi:*'],
      alias: { '@citadel/sdk': join(SDK, 'src') },
      resolveExtensions: ['.ts', '.js'],
      metafile: true,
      logLevel: 'error',
    });
    const used = new Set();
    let exportsHandler = false;
    for (const output of Object.values(result.metafile.outputs)) {
      exportsHandler ||= output.exports.includes('handler');
      for (const imported of output.imports) {
        if (imported.external) used.add(imported.path);
      }
    }
    // Every app serves HTTP through wasi:http/types; the rest is what the code imports.
    const imports = [...used].filter((name) => name.startsWith(`${CONTRACT}/`) || name.startsWith(`${HTTP}/outgoing-handler`)).sort();
    const unknown = [...used].filter((name) => !name.startsWith(`${CONTRACT}/`) && !name.startsWith('wasi:'));
    if (unknown.length > 0) fail(`the app imports modules no component provides: ${unknown.join(', ')}`);
    const world = writeWorld(imports, exportsHandler);
    try {
      const { component: bytes } = await componentize({
        sourcePath: bundle,
        witPath: world,
        worldName: 'citadel:app/app',
        // The SDK serves wasi:http itself (`serve`) and sends outbound
        // requests through the contract's outgoing-handler (`fetch`), so the
        // engine's own fetch() and fetch-event stay out: a component imports
        // outgoing-handler only when its code uses `@citadel/sdk/fetch`.
        disableFeatures: ['http', 'fetch-event'],
      });
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, bytes);
    } finally {
      rmSync(world, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  console.log(target);
}

main().catch((error) => fail(error?.stack ?? String(error)));
