// Browser tests of the live dashboard: Debian's chromium driven by
// playwright-core against a freshly started `cinch daemon --demo`.
//
//   CINCH_BIN=/path/to/cinch CINCH_BROWSER_MODULES=$CINCH_CACHE/browser/node_modules \
//     node dashboards/web/test/e2e.mjs
//
// Env: CINCH_BIN (required), CINCH_BROWSER_MODULES (required: where
// playwright-core is installed), CHROMIUM (default /usr/bin/chromium),
// CINCH_SCREENSHOTS (default docs/screenshots; "" to skip).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { need, results, log, step, assert, sleep, freePort, Daemon, Browser, live } from './lib.mjs';

const BIN = need('CINCH_BIN');
const MODULES = need('CINCH_BROWSER_MODULES');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.CINCH_SCREENSHOTS ?? 'docs/screenshots';

const REVIEWER = 'alice-reviewer-token', VIEWER = 'vera-viewer-token';
const HOSTILE = '<img src=x onerror=alert(1)>';
const HOSTILE_ID = 'sg-0badc0ffee0000001';

const port = await freePort();
const base = `http://127.0.0.1:${port}/`;
const daemon = new Daemon(BIN, ['--demo', '--demo-hostile-names', '--demo-new-source-every', '2s', '--listen', `127.0.0.1:${port}`],
  { CINCH_AUTH_TOKEN_NAMES: 'alice,vera', CINCH_AUTH_TOKEN_ALICE: `reviewer:${REVIEWER}`, CINCH_AUTH_TOKEN_VERA: `viewer:${VIEWER}` }, base);
const startDaemon = () => daemon.start();
const stopDaemon = () => daemon.stop();
async function api(p, tok, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (tok) headers.Authorization = 'Bearer ' + tok;
  return fetch(base + p, { ...opts, headers });
}

const browser = new Browser(MODULES, CHROMIUM);
const { dialogs, errors } = browser;
let daemonDown = false;
// While the daemon is down on purpose, failed connections are expected.
browser.expected = (text) => daemonDown && /WebSocket|Failed to load resource|ERR_CONNECTION_REFUSED/.test(text);
let ctx;
try {
  await startDaemon();
  log('daemon on', base);
  ctx = await browser.launch();
  const watch = (page, name) => browser.watch(page, name);
  const page1 = watch(ctx.pages()[0] || await ctx.newPage(), 'page1');
  const page2 = watch(await ctx.newPage(), 'page2');

  await step('GET / serves the page with a strict CSP and nosniff', async () => {
    const r = await fetch(base);
    assert(r.ok && r.headers.get('content-type').startsWith('text/html'), `GET / ${r.status} ${r.headers.get('content-type')}`);
    const csp = r.headers.get('content-security-policy') || '';
    assert(/script-src 'self'/.test(csp) && !/unsafe-inline|unsafe-eval/.test(csp), 'CSP: ' + csp);
    assert(r.headers.get('x-content-type-options') === 'nosniff', 'nosniff');
    const html = await r.text();
    const js = /src="([^"]+app\.js)"/.exec(html)[1];
    const a = await fetch(new URL(js, base));
    assert(a.headers.get('content-type').startsWith('text/javascript') && /immutable/.test(a.headers.get('cache-control')), 'asset headers');
  });

  await step('the page shows the snapshot', async () => {
    await page1.goto(base);
    await live(page1);
    const sugs = (await (await api('api/v1/suggestions')).json()).suggestions;
    const shown = await page1.locator('.cards .big').first().innerText();
    assert(shown.replace(/\s/g, '').startsWith(String(sugs.length)), `rules shown "${shown}", API has ${sugs.length}`);
    await page1.waitForSelector('tr[data-key]');
    const rows = await page1.locator('table.proposals tbody tr').count();
    const proposals = sugs.filter((s) => s.verdict !== 'keep').length;
    assert(rows > 0 && Math.abs(rows - proposals) <= 3, `${rows} proposal rows, API has ${proposals}`);
  });

  await step('a proposal changes on the open page within 2 s of its event', async () => {
    // A second page listens to the same websocket and reports each change
    // to the test as it arrives; page1 must show it within 2 s.
    await page2.goto(base + '?view=events');
    await live(page2);
    const seen = [];
    await page2.exposeFunction('cinchTestEvent', (ev) => seen.push({ ...ev, at: Date.now() }));
    await page2.evaluate(() => {
      const ws = new WebSocket(new URL('api/v1/events', location.href).toString().replace('http', 'ws'));
      ws.onmessage = (m) => {
        const ev = JSON.parse(m.data);
        if (ev.type === 'verdict-changed' && ev.suggestion) window.cinchTestEvent({ key: ev.rule_key, version: ev.version, verdict: ev.suggestion.verdict });
      };
    });
    let checked = 0, visible = 0;
    const end = Date.now() + 60000;
    while ((checked < 3 || visible < 1) && Date.now() < end) {
      const ev = seen.shift();
      if (!ev) { await sleep(50); continue; }
      const left = 2000 - (Date.now() - ev.at);
      await page1.waitForFunction((v) => Number(document.body.dataset.version) >= v, ev.version, { timeout: Math.max(1, left) })
        .catch(() => { throw new Error(`page1 did not reach version ${ev.version} within 2 s`); });
      if (ev.verdict !== 'keep') {
        const left2 = 2000 - (Date.now() - ev.at);
        await page1.waitForFunction(({ key, version, verdict }) => [...document.querySelectorAll('tr[data-key]')]
          .some((tr) => tr.dataset.key === key && Number(tr.dataset.version) >= version && tr.dataset.verdict === verdict), ev, { timeout: Math.max(1, left2) })
          .catch(() => { throw new Error(`row ${ev.key} not updated to ${ev.verdict} v${ev.version} within 2 s`); });
        visible++;
      }
      checked++;
    }
    assert(checked >= 3 && visible >= 1, `only ${checked} changes (${visible} visible) arrived in 60 s`);
    log(`     ${checked} changes checked, ${visible} of them as proposal rows`);
  });

  let reviewedKey = '';
  await step('sign in as a reviewer; a review made in one page appears in a second page', async () => {
    await page1.click('#signin-btn');
    await page1.fill('#token', REVIEWER);
    await page1.click('dialog button[value=signin]');
    await page1.waitForSelector('body[data-role="reviewer"]');
    await page1.waitForSelector('table.proposals button[data-action=accept]');
    reviewedKey = await page1.locator('table.proposals tr[data-key]').first().getAttribute('data-key');
    await page2.goto(base);
    await live(page2);
    // A high-confidence one: exports leave low-confidence proposals out.
    const accept = page1.locator('table.proposals tr[data-verdict=narrow][data-confidence=high][data-key*="|ingress|"]').filter({ has: page1.locator('button[data-action=accept]') }).first();
    reviewedKey = await accept.getAttribute('data-key');
    const posted = page1.waitForResponse((r) => r.url().endsWith('/api/v1/reviews') && r.request().method() === 'POST');
    await accept.locator('button[data-action=accept]').click();
    assert((await posted).status() === 201, 'review POST failed');
    const start = Date.now();
    await page2.waitForFunction((k) => [...document.querySelectorAll('[data-review-for]')]
      .some((e) => e.dataset.reviewFor === k && e.querySelector('.r-accepted')), reviewedKey, { timeout: 2000 });
    log(`     accepted ${reviewedKey}; shown on page2 ${Date.now() - start} ms after the POST answered`);
    // Reject another with a comment.
    const other = page1.locator('table.proposals tr[data-key]').filter({ has: page1.locator('button[data-action=reject]') }).nth(1);
    const otherKey = await other.getAttribute('data-key');
    await other.locator('button[data-action=reject]').click();
    const ta = page1.locator('textarea:focus');
    await ta.fill('still needed by the <b>batch</b> job');
    await ta.press('Enter').catch(() => {});
    await page1.locator('.reject-form button[type=submit]').click();
    await page2.waitForFunction((k) => [...document.querySelectorAll('[data-review-for]')]
      .some((e) => e.dataset.reviewFor === k && e.querySelector('.r-rejected') && e.textContent.includes('still needed by the <b>batch</b> job')), otherKey, { timeout: 2000 });
    const revs = (await (await api('api/v1/reviews')).json()).reviews;
    assert(revs.some((r) => r.rule_key === reviewedKey && r.decision === 'accepted' && r.by === 'alice'), 'API has the accept');
  });

  await step('export of the accepted proposals on the page equals the API export', async () => {
    await page1.goto(base + '?view=export&format=cli');
    // The state keeps changing: compare with the API until both saw the same state.
    let shown = '', want = '';
    for (let i = 0; i < 20 && (shown !== want || !shown); i++) {
      await page1.waitForFunction(() => {
        const pre = document.querySelector('[data-testid=export-output]');
        return pre && pre.dataset.upToDate === 'true' && pre.textContent.startsWith('#!/bin/sh');
      }, null, { timeout: 5000 });
      shown = await page1.locator('[data-testid=export-output]').textContent();
      want = await (await api('api/v1/export?format=cli&status=accepted')).text();
    }
    assert(shown === want, 'page export differs from the API');
    // The accepted proposal is in it while it is still a high-confidence
    // change (the demo's traffic goes on and may turn it into a keep, or
    // lower its confidence: then exports leave it out).
    const group = reviewedKey.split('|')[0];
    const cur = await (await api('api/v1/rules/' + encodeURIComponent(reviewedKey))).json();
    const included = cur.verdict !== 'keep' && cur.confidence === 'high';
    if (included) assert(shown.includes(group), `export lacks ${group}`);
    else log(`     the accepted proposal became ${cur.verdict}/${cur.confidence} meanwhile`);
    await page1.check('#fmt-terraform');
    await page1.waitForFunction((withRule) => {
      const pre = document.querySelector('[data-testid=export-output]');
      return pre?.dataset.format === 'terraform' && pre.dataset.upToDate === 'true' &&
        (!withRule || /resource "aws_vpc_security_group_(in|e)gress_rule"/.test(pre.textContent));
    }, included, { timeout: 5000 });
  });

  await step('a viewer sees no review buttons and cannot review', async () => {
    await page2.click('#signin-btn');
    await page2.fill('#token', VIEWER);
    await page2.click('dialog button[value=signin]');
    await page2.waitForSelector('body[data-role="viewer"]');
    await page2.waitForSelector('table.proposals tr[data-key]');
    assert(await page2.locator('button[data-action]').count() === 0, 'viewer sees review buttons');
    assert(await page2.locator('#views a[data-fid="nav-apply"]').count() === 0, 'viewer sees the Apply view');
    await page2.goto(base + '?view=group&id=' + encodeURIComponent(reviewedKey.split('|')[0]));
    await page2.waitForSelector('.rule-card');
    assert(await page2.locator('button[data-action]').count() === 0, 'viewer sees review buttons on a group');
    const r = await api('api/v1/reviews', VIEWER, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rule_key: reviewedKey, decision: 'rejected', comment: 'x' }) });
    assert(r.status === 403, `viewer POST: ${r.status}`);
  });

  await step('a group named with markup renders as text, and no dialog fires', async () => {
    await page1.goto(base + '?view=overview&q=' + encodeURIComponent('badc0ffee'));
    await live(page1);
    await page1.waitForFunction((n) => [...document.querySelectorAll('.gname')].some((e) => e.textContent === n), HOSTILE, { timeout: 5000 });
    await page1.goto(base + '?view=group&id=' + HOSTILE_ID);
    await page1.waitForFunction((n) => document.querySelector('h1')?.textContent.includes(n), HOSTILE, { timeout: 5000 });
    const desc = await page1.locator('.facts .desc').textContent();
    assert(desc === '<script>alert("description")</script>', 'description: ' + desc);
    const key = await page1.locator('.rule-card').first().getAttribute('data-key');
    await page1.goto(base + '?view=rule&key=' + encodeURIComponent(key));
    await page1.waitForFunction(() => document.querySelector('main')?.textContent.includes('"><svg onload=alert(2)>'), null, { timeout: 5000 });
    const injected = await page1.evaluate(() => document.querySelectorAll('main img, main script, main svg[onload], main [onerror]').length);
    assert(injected === 0, `${injected} injected elements`);
    await sleep(300);
    assert(dialogs.length === 0, 'dialogs fired: ' + dialogs.join('; '));
  });

  await step('the rule view shows sources as a prefix tree and usage over time', async () => {
    await page1.goto(base);
    await live(page1);
    const rowKey = await page1.evaluate(() => {
      const rows = [...document.querySelectorAll('table.proposals tr[data-key]')].filter((r) => r.dataset.verdict === 'narrow');
      return rows.length ? rows[0].dataset.key : null;
    });
    assert(rowKey, 'no narrow proposal');
    await page1.goto(base + '?view=rule&key=' + encodeURIComponent(rowKey));
    await page1.waitForSelector('.chart canvas', { timeout: 5000 });
    await page1.waitForSelector('.tree [role=treeitem]');
    const body = await (await api('api/v1/rules/' + encodeURIComponent(rowKey))).json();
    const leaves = await page1.locator('.tree li:not([aria-expanded])').count();
    assert(leaves === body.usage.sources.length, `${leaves} leaves shown, API has ${body.usage.sources.length}`);
  });

  if (SHOTS) {
    await step('screenshots (laptop and wide, light and dark)', async () => {
      mkdirSync(SHOTS, { recursive: true });
      const shot = async (name, url, size, scheme) => {
        const p = await ctx.newPage();
        await p.setViewportSize(size);
        await p.emulateMedia({ colorScheme: scheme });
        await p.addInitScript((t) => sessionStorage.setItem('cinch.token', t), REVIEWER);
        await p.goto(url);
        await p.waitForSelector('body[data-conn="live"]');
        await p.waitForTimeout(900);
        await p.screenshot({ path: path.join(SHOTS, name) });
        await p.close();
      };
      const narrowKey = await page1.evaluate(() => new URLSearchParams(location.search).get('key'));
      await shot('overview-laptop-light.png', base, { width: 1366, height: 768 }, 'light');
      await shot('overview-wide-dark.png', base, { width: 1920, height: 1080 }, 'dark');
      await shot('group-laptop-dark.png', base + '?view=group&id=' + encodeURIComponent(narrowKey.split('|')[0]), { width: 1366, height: 768 }, 'dark');
      await shot('rule-wide-light.png', base + '?view=rule&key=' + encodeURIComponent(narrowKey), { width: 1920, height: 1080 }, 'light');
    });
  }

  await step('the page survives the daemon restart and resumes', async () => {
    await page1.goto(base);
    await live(page1);
    const [before, epoch] = await page1.evaluate(() => [Number(document.body.dataset.version), document.body.dataset.epoch]);
    daemonDown = true;
    await stopDaemon();
    await page1.waitForSelector('body[data-conn="down"]', { timeout: 5000 });
    const status = await page1.locator('#conn').innerText();
    assert(/Disconnected/.test(status) && /stale/.test(status), 'status: ' + status);
    assert(await page1.locator('table.proposals tr[data-key]').count() > 0, 'the last state stays on the page');
    await startDaemon();
    daemonDown = false;
    await page1.waitForFunction((e) => document.body.dataset.conn === 'live' && document.body.dataset.epoch !== e, epoch, { timeout: 20000 });
    await page1.waitForSelector('table.proposals tr[data-key]');
    const after = await page1.evaluate(() => Number(document.body.dataset.version));
    log(`     version ${before} before the restart, ${after} after (new daemon: new epoch, fresh snapshot)`);
    // And it keeps following the new daemon.
    await page1.waitForFunction((v) => Number(document.body.dataset.version) > v, after, { timeout: 15000 });
  });

  await step('no script errors and no CSP violations', async () => {
    assert(errors.length === 0, errors.join('\n'));
    assert(dialogs.length === 0, dialogs.join('; '));
  });
} catch (e) {
  results.failures++;
  log('FAIL', e.stack || e);
} finally {
  await browser.close();
  await stopDaemon();
}
if (results.failures) {
  console.log('--- daemon log (tail) ---\n' + daemon.tail());
  log(`${results.failures} failed`);
  process.exit(1);
}
log('all browser tests passed');
