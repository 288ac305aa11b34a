// Browser test of the dashboard's Apply view, end to end: a daemon whose
// inventory comes from the EC2 API of moto's server (an account of the
// test's own) with apply enabled; in Chromium an applier accepts the
// proposal, dry-runs, confirms, and the account's rules change.
//
//   CINCH_BIN=/path/to/cinch CINCH_BROWSER_MODULES=$CINCH_CACHE/browser/node_modules \
//     CINCH_MOTO_ENDPOINT=http://127.0.0.1:5000 node dashboards/web/test/apply.mjs
//
// Env: CINCH_BIN, CINCH_BROWSER_MODULES and CINCH_MOTO_ENDPOINT (required),
// CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { need, results, log, step, assert, freePort, waitFor, Daemon, Browser, live } from './lib.mjs';

const BIN = need('CINCH_BIN');
const MODULES = need('CINCH_BROWSER_MODULES');
const MOTO = need('CINCH_MOTO_ENDPOINT');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const REGION = 'eu-north-1';
const APPLIER = 'alex-applier-token-0123456789', REVIEWER = 'rita-reviewer-token-0123456789';

// moto speaks the AWS query protocol and takes the account from the access
// key in the Authorization header (keys from sts:AssumeRole map to the
// role's account); it does not check signatures.
async function query(service, version, params, key = 'testing') {
  const r = await fetch(MOTO, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `AWS4-HMAC-SHA256 Credential=${key}/20261129/${REGION}/${service}/aws4_request, SignedHeaders=host, Signature=00` },
    body: new URLSearchParams({ Action: params.Action, Version: version, ...params }),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${service} ${params.Action}: ${r.status} ${text.slice(0, 300)}`);
  return text;
}
const tag = (xml, name) => {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  if (!m) throw new Error(`no <${name}> in ${xml.slice(0, 300)}`);
  return m[1];
};

const account = String(100000000000 + Math.floor(Math.random() * 800000000000));
const role = `arn:aws:iam::${account}:role/cinch-browser-test`;
const key = tag(await query('sts', '2011-06-15', { Action: 'AssumeRole', RoleArn: role, RoleSessionName: 'setup' }), 'AccessKeyId');
const ec2 = (params) => query('ec2', '2016-11-15', params, key);
const vpc = tag(await ec2({ Action: 'CreateVpc', CidrBlock: '10.90.0.0/16' }), 'vpcId');
const subnet = tag(await ec2({ Action: 'CreateSubnet', VpcId: vpc, CidrBlock: '10.90.1.0/24' }), 'subnetId');
const group = tag(await ec2({ Action: 'CreateSecurityGroup', GroupName: 'bastion', GroupDescription: 'ssh from anywhere', VpcId: vpc }), 'groupId');
await ec2({ Action: 'AuthorizeSecurityGroupIngress', GroupId: group, 'IpPermissions.1.IpProtocol': 'tcp',
  'IpPermissions.1.FromPort': '22', 'IpPermissions.1.ToPort': '22', 'IpPermissions.1.IpRanges.1.CidrIp': '0.0.0.0/0' });
const eniXML = await ec2({ Action: 'CreateNetworkInterface', SubnetId: subnet, 'SecurityGroupId.1': group });
const eni = tag(eniXML, 'networkInterfaceId'), ip = tag(eniXML, 'privateIpAddress');
async function ingressCIDRs() {
  const xml = await ec2({ Action: 'DescribeSecurityGroupRules', 'Filter.1.Name': 'group-id', 'Filter.1.Value.1': group });
  return [...xml.matchAll(/<item>(.*?)<\/item>/gs)].map((m) => m[1]).filter((it) => /<isEgress>false<\/isEgress>/.test(it))
    .map((it) => /<cidrIpv4>([^<]*)<\/cidrIpv4>/.exec(it)?.[1]).sort();
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'cinch-apply-browser-'));
const flows = path.join(dir, 'flows.log');
// One SSH session opened (SYN) by a single admin address.
writeFileSync(flows, `3 ${account} ${eni} 198.51.100.9 ${ip} 40001 22 6 10 840 1764000000 1764000050 ACCEPT OK 2\n`);
const port = await freePort();
const base = `http://127.0.0.1:${port}/`;
const audit = path.join(dir, 'audit.jsonl');
writeFileSync(path.join(dir, 'cinch.yaml'), `listen: 127.0.0.1:${port}
state_dir: ${path.join(dir, 'state')}
files: [${flows}]
formats:
  default: "\${version} \${account-id} \${interface-id} \${srcaddr} \${dstaddr} \${srcport} \${dstport} \${protocol} \${packets} \${bytes} \${start} \${end} \${action} \${log-status} \${tcp-flags}"
inventory:
  aws:
    regions: [${REGION}]
    refresh_interval: 10s
    accounts: [{name: browser-test, role_arn: "${role}"}]
analysis:
  evaluate_interval: 200ms
  min_history: 30s
apply:
  enabled: true
  role_arn: "${role}"
  audit_log: ${audit}
auth:
  tokens:
    - {name: alex, role: applier, token: ${APPLIER}}
    - {name: rita, role: reviewer, token: ${REVIEWER}}
`);
const daemon = new Daemon(BIN, ['--config', path.join(dir, 'cinch.yaml')], {
  AWS_ENDPOINT_URL: MOTO, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION,
  AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true',
}, base);

const browser = new Browser(MODULES, CHROMIUM);
try {
  await daemon.start();
  log('daemon on', base, 'account', account, 'group', group);
  const ctx = await browser.launch();
  const page = browser.watch(ctx.pages()[0] || await ctx.newPage(), 'applier');
  // Reads need a token here (no demo): the page opens asking for one, after
  // a 401 that is expected then.
  let signingIn = false;
  browser.expected = (text) => signingIn && /status of 401|HTTP Authentication failed/.test(text);
  const signIn = async (p, token, role) => {
    signingIn = true;
    await p.goto(base);
    await p.waitForSelector('dialog#signin[open]');
    await p.fill('#token', token);
    await p.click('dialog button[value=signin]');
    await p.waitForSelector(`body[data-role="${role}"]`);
    await live(p);
    signingIn = false;
  };

  let ruleKey = '';
  await step('an applier sees the Apply view; the narrow proposal is accepted on the overview', async () => {
    await signIn(page, APPLIER, 'applier');
    await page.waitForSelector('#views a[data-fid="nav-apply"]');
    await page.goto(base + '?view=apply');
    await page.waitForFunction(() => document.querySelector('main h1')?.textContent === 'Apply');
    assert(/No accepted proposal/.test(await page.locator('main').innerText()), 'candidates before any review');
    await page.goto(base);
    const row = page.locator('table.proposals tr[data-verdict=narrow]').filter({ hasText: 'bastion' }).first();
    await row.waitFor({ timeout: 15000 });
    ruleKey = await row.getAttribute('data-key');
    assert(ruleKey.startsWith(group + '|'), 'proposal of another group: ' + ruleKey);
    await row.locator('button[data-action=accept]').click();
    await page.waitForFunction((k) => [...document.querySelectorAll('[data-review-for]')]
      .some((e) => e.dataset.reviewFor === k && e.querySelector('.r-accepted')), ruleKey, { timeout: 5000 });
  });

  let dryRunID = '';
  await step('a dry run allows every call and changes nothing; only then is Apply offered', async () => {
    await page.click('#views a[data-fid="nav-apply"]');
    const row = page.locator('tr[data-apply-key]');
    await row.first().waitFor();
    assert(await row.count() === 1 && await row.first().getAttribute('data-apply-key') === ruleKey, 'candidates: ' + await row.count());
    assert(await page.locator('[data-fid="apply-run"]').isDisabled(), 'Apply offered before a dry run');
    await page.click('[data-fid="apply-dry-run"]');
    await page.waitForSelector('[data-testid=apply-result][data-dry-run=true]', { timeout: 20000 });
    const statuses = await page.locator('[data-testid=apply-result] tr[data-status]').evaluateAll((trs) => trs.map((t) => t.dataset.status));
    assert(statuses.join(',') === 'allowed,allowed', 'dry-run steps: ' + statuses);
    const calls = await page.locator('[data-testid=apply-result] tr[data-status] td:nth-child(2)').allInnerTexts();
    assert(calls.join(',') === 'authorize-ingress,revoke-ingress', 'authorize before revoke: ' + calls);
    dryRunID = await page.locator('[data-testid=apply-result]').getAttribute('data-run-id');
    assert((await ingressCIDRs()).join(',') === '0.0.0.0/0', 'a dry run changed the account: ' + await ingressCIDRs());
    const offered = (yes, why) => page.waitForSelector(`[data-fid="apply-run"]:${yes ? 'enabled' : 'disabled'}`, { timeout: 3000 })
      .catch(() => { throw new Error(why); });
    await offered(true, 'Apply not offered after the dry run');
    // Leaving the rule out of the selection withdraws the offer.
    await page.locator('tr[data-apply-key] input[type=checkbox]').uncheck();
    await offered(false, 'Apply offered for another selection');
    await page.locator('tr[data-apply-key] input[type=checkbox]').check();
    await offered(true, 'Apply not offered again for the dry-run selection');
  });

  await step('Apply asks for confirmation, then authorizes the narrow rule and revokes the wide one', async () => {
    await page.click('[data-fid="apply-run"]');
    await page.waitForSelector('[role=alertdialog] [data-fid="apply-confirm"]');
    await page.click('[data-fid="apply-cancel"]');
    await page.waitForSelector('[role=alertdialog]', { state: 'detached', timeout: 3000 });
    assert((await ingressCIDRs()).join(',') === '0.0.0.0/0', 'cancel changed the account');
    await page.click('[data-fid="apply-run"]');
    await page.click('[data-fid="apply-confirm"]');
    await page.waitForSelector('[data-testid=apply-result][data-dry-run=false]', { timeout: 20000 });
    const statuses = await page.locator('[data-testid=apply-result] tr[data-status]').evaluateAll((trs) => trs.map((t) => t.dataset.status));
    assert(statuses.join(',') === 'done,done', 'steps: ' + statuses);
    assert((await ingressCIDRs()).join(',') === '198.51.100.9/32', 'rules after apply: ' + await ingressCIDRs());
    const runID = await page.locator('[data-testid=apply-result]').getAttribute('data-run-id');
    const lines = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert(lines.some((l) => l.run_id === runID && l.who === 'alex' && l.phase === 'apply') && lines.some((l) => l.run_id === dryRunID),
      'audit log lacks the runs ' + dryRunID + ', ' + runID);
    // Both runs are in the page's list of runs, from the events websocket.
    await page.waitForFunction(() => document.querySelectorAll('table.apply-runs tbody tr').length >= 2, null, { timeout: 5000 });
  });

  await step('the refreshed inventory shows the narrowed rule', async () => {
    let mine = [];
    await waitFor(async () => {
      const r = await fetch(base + 'api/v1/suggestions', { headers: { Authorization: 'Bearer ' + APPLIER } });
      const body = await r.json();
      mine = body.suggestions.filter((s) => s.group_id === group && s.direction === 'ingress');
      return mine.length === 1 && mine[0].rule.source === '198.51.100.9/32' && mine[0].verdict === 'keep' && mine[0].reasons.includes('new-rule');
    }, 40000, 'the group to hold only the /32 rule, kept as new (no record since it exists)').catch((e) => { throw new Error(e.message + ': ' + JSON.stringify(mine)); });
  });

  await step('a reviewer has no Apply view and cannot apply', async () => {
    const p = browser.watch(await ctx.newPage(), 'reviewer');
    await signIn(p, REVIEWER, 'reviewer');
    assert(await p.locator('#views a[data-fid="nav-apply"]').count() === 0, 'reviewer sees Apply');
    await p.goto(base + '?view=apply');
    await p.waitForFunction(() => /needs an applier token/.test(document.querySelector('main')?.textContent || ''));
    const r = await fetch(base + 'api/v1/apply', { method: 'POST', headers: { Authorization: 'Bearer ' + REVIEWER, 'Content-Type': 'application/json' }, body: '{"dry_run":true}' });
    assert(r.status === 403, 'reviewer apply: ' + r.status);
    await p.close();
  });

  await step('no script errors, no CSP violations, no dialogs', async () => {
    assert(browser.errors.length === 0, browser.errors.join('\n'));
    assert(browser.dialogs.length === 0, browser.dialogs.join('; '));
  });
} catch (e) {
  results.failures++;
  log('FAIL', e.stack || e);
} finally {
  await browser.close();
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
}
if (results.failures) {
  console.log('--- daemon log (tail) ---\n' + daemon.tail(40));
  log(`${results.failures} failed`);
  process.exit(1);
}
log('all apply browser tests passed');
