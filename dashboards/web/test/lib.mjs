// Helpers of the browser tests (e2e.mjs, apply.mjs): steps and assertions,
// free ports, waiting, a daemon process, and Chromium with pages watched
// for script errors, CSP violations and dialogs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** need returns the environment variable k, or exits saying it is missing. */
export function need(k) {
  if (!process.env[k]) { console.error(`browser tests: ${k} is not set (scripts/test.sh sets it; see the header of the test file)`); process.exit(2); }
  return process.env[k];
}

const t0 = Date.now();
export const results = { failures: 0 };
export function log(...a) { console.log(`[browser ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a); }

/** step runs one named check, logging ok or FAIL (and counting failures). */
export async function step(name, fn) {
  try { await fn(); log('ok  ', name); } catch (e) { results.failures++; log('FAIL', name, '\n     ', e.stack || e); }
}

export function assert(cond, msg) { if (!cond) throw new Error(msg); }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch (e) { if (e.fatal) throw e; last = e; }
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ': ' + last.message : ''}`);
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

/**
 * Daemon runs `cinch daemon ARGS` with env (none of the test run's own
 * CINCH_* variables: scripts/test.sh exports some for the Go tests) and
 * keeps its output for the failure report.
 */
export class Daemon {
  constructor(bin, args, env, base) { Object.assign(this, { bin, args, env, base, proc: null, output: '' }); }

  async start() {
    this.proc = spawn(this.bin, ['daemon', ...this.args], {
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CINCH_'))), ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (b) => { this.output += b; });
    this.proc.stderr.on('data', (b) => { this.output += b; });
    await waitFor(async () => {
      if (this.proc.exitCode !== null) throw Object.assign(new Error(`the daemon exited (${this.proc.exitCode}):\n${this.tail(5)}`), { fatal: true });
      return (await fetch(this.base + 'readyz')).ok;
    }, 30000, 'daemon ready');
  }

  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(15000).then(() => p.kill('SIGKILL'))]);
  }

  tail(n = 30) { return this.output.split('\n').slice(-n).join('\n'); }
}

/**
 * Browser is headless Chromium (playwright-core from modules) with a
 * throwaway profile; watch() records a page's script errors, console errors
 * (unless expected() says they are), CSP violations and dialogs (dismissed).
 */
export class Browser {
  constructor(modules, chromiumPath) {
    this.modules = modules;
    this.chromiumPath = chromiumPath;
    this.dialogs = [];
    this.errors = [];
    this.expected = () => false;
  }

  async launch() {
    const { chromium } = createRequire(path.join(path.resolve(this.modules), 'x.js'))('playwright-core');
    this.profile = mkdtempSync(path.join(os.tmpdir(), 'cinch-browser-profile-'));
    this.ctx = await chromium.launchPersistentContext(this.profile, {
      executablePath: this.chromiumPath, headless: true, viewport: { width: 1366, height: 768 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    return this.ctx;
  }

  watch(page, name) {
    page.on('dialog', (d) => { this.dialogs.push(`${name}: ${d.type()} ${d.message()}`); d.dismiss().catch(() => {}); });
    page.on('pageerror', (e) => this.errors.push(`${name}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() !== 'error' || this.expected(m.text())) return;
      this.errors.push(`${name}: console: ${m.text()}`);
    });
    return page;
  }

  async close() {
    if (this.ctx) await this.ctx.close().catch(() => {});
    if (this.profile) rmSync(this.profile, { recursive: true, force: true });
  }
}

/** live waits until a page shows the daemon's state, connected. */
export async function live(page) {
  await page.waitForSelector('body[data-conn="live"]', { timeout: 10000 });
  await page.waitForFunction(() => Number(document.body.dataset.version) > 0 && document.querySelector('main h1'), null, { timeout: 10000 });
}
