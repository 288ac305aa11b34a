// Unattributed interfaces, the event feed and the export.

import { h } from '../dom.js';
import * as fmt from '../format.js';
import { table, empty, ruleLink, groupLink, DECISIONS, verdictBadge } from '../components.js';

export function unattributed(ctx) {
  const list = ctx.store.unattributed;
  return [
    h('h1', {}, 'Unattributed interfaces'),
    h('p', { class: 'muted' }, 'Interfaces whose accepted records the inventory cannot place: their traffic counts for no rule. Add them to the inventory (or check the accounts and regions it loads).'),
    list.length ? table(`${fmt.plural(list.length, 'interface')}`, ['Interface', 'Records'],
      list.map((u) => h('tr', {}, h('td', {}, h('code', {}, u.interface_id)), h('td', { class: 'num' }, fmt.count(u.records))))) : empty('Every interface with traffic is in the inventory.'),
  ];
}

const LABEL = {
  snapshot: 'Snapshot', 'verdict-changed': 'Verdict changed', 'rule-removed': 'Rule removed',
  'rule-stopped-matching': 'Stopped matching', 'rule-resumed': 'Resumed', review: 'Review', apply: 'Apply',
};

export function events(ctx) {
  const feed = ctx.store.feed;
  const types = ['', ...Object.keys(LABEL)];
  const t = ctx.params.get('type') || '';
  const shown = feed.filter((e) => !t || e.type === t);
  return [
    h('h1', {}, 'Events'),
    h('div', { class: 'toolbar' },
      h('label', { for: 'ev-type' }, 'Type '),
      h('select', { id: 'ev-type', dataset: { fid: 'ev-type' }, onchange: (e) => ctx.setParam('type', e.target.value) },
        types.map((x) => h('option', { value: x, selected: x === t }, x ? LABEL[x] : 'all')))),
    h('p', { class: 'muted' }, `Events received since this page opened (the last ${fmt.count(feed.length)}).`),
    shown.length ? h('ol', { class: 'feed', 'aria-live': 'off' }, shown.slice(0, 200).map((e) => feedItem(ctx, e))) : empty('Nothing yet.'),
  ];
}

function feedItem(ctx, e) {
  const r = e.rule_key && ctx.store.rules.get(e.rule_key);
  const s = e.suggestion || r?.s;
  let what = null;
  if (e.type === 'snapshot') what = `state of ${fmt.plural(e.count, 'rule')}`;
  else if (e.type === 'verdict-changed') {
    if (e.previous && s && e.previous.verdict === s.verdict) {
      const n = (x) => fmt.plural((x.proposed || []).length, 'rule');
      what = [verdictBadge(s.verdict), ` proposal changed: ${n(e.previous)} → ${n(s)}`];
    } else {
      what = [e.previous ? [verdictBadge(e.previous.verdict), ' → '] : 'new: ', s ? verdictBadge(s.verdict) : null];
    }
  } else if (e.type === 'apply' && e.apply) {
    const a = e.apply;
    what = `${a.dry_run ? 'dry run' : 'run'} by ${a.who}: ${a.done} ${a.dry_run ? 'allowed' : 'done'}, ${a.not_done} not done, ${a.skipped} left out`
      + (a.error ? ` — ${a.error}` : '');
  } else if (e.type === 'review' && e.review) {
    what = `${DECISIONS[e.review.decision] || e.review.decision} by ${e.review.by}` + (e.review.comment ? `: “${e.review.comment}”` : '');
  }
  return h('li', { dataset: { mkey: 'e:' + e.version + ':' + e.type, version: String(e.version), type: e.type } },
    h('span', { class: 'when' }, fmt.time(e.time || e.received.toISOString())),
    h('span', { class: ['badge', 'ev', 'e-' + e.type] }, LABEL[e.type] || e.type),
    s && e.rule_key ? [groupLink(ctx, s.group_id), ' ', r ? ruleLink(ctx, e.rule_key, s) : h('code', {}, e.rule_key)] : null,
    what ? h('span', { class: 'what' }, what) : null,
    h('span', { class: 'muted ver' }, 'v' + e.version));
}

export function exportView(ctx) {
  const format = ctx.params.get('format') === 'terraform' ? 'terraform' : 'cli';
  const status = ctx.params.get('status') === 'all' ? 'all' : 'accepted';
  const ex = ctx.exportText(format, status);
  const accepted = [...ctx.store.reviews.values()].filter((r) => r.decision === 'accepted' && ctx.store.rules.has(r.rule_key)).length;
  const file = `cinch-${status}.${format === 'cli' ? 'sh' : 'tf'}`;
  return [
    h('h1', {}, 'Export'),
    h('p', {}, `The same output as `, h('code', {}, `cinch analyze --output ${format}`), ` on the daemon's current state, `,
      status === 'accepted' ? `for the ${fmt.plural(accepted, 'accepted proposal')}.` : 'for every proposal.'),
    h('div', { class: 'toolbar', role: 'group', 'aria-label': 'export options' },
      h('fieldset', {}, h('legend', {}, 'Format'),
        radio('fmt', 'cli', 'AWS CLI', format, (v) => ctx.setParam('format', v)),
        radio('fmt', 'terraform', 'Terraform', format, (v) => ctx.setParam('format', v))),
      h('fieldset', {}, h('legend', {}, 'Proposals'),
        radio('st', 'accepted', 'Accepted', status, (v) => ctx.setParam('status', v)),
        radio('st', 'all', 'All', status, (v) => ctx.setParam('status', v))),
      h('button', { type: 'button', dataset: { fid: 'copy' }, disabled: !ex.text, onclick: async (e) => {
        try { await navigator.clipboard.writeText(ex.text); e.target.textContent = 'Copied'; } catch { e.target.textContent = 'Copy failed: select the text'; }
      } }, 'Copy'),
      h('button', { type: 'button', dataset: { fid: 'download' }, disabled: !ex.text, onclick: () => {
        const a = h('a', { href: URL.createObjectURL(new Blob([ex.text], { type: 'text/plain' })), download: file });
        document.body.append(a); a.click(); a.remove();
      } }, 'Download ' + file)),
    ex.error ? h('p', { class: 'error', role: 'alert' }, ex.error) : null,
    h('pre', { class: 'code', tabindex: '0', 'aria-label': 'export output', dataset: { testid: 'export-output', format, status, upToDate: String(ex.got === ex.want) } }, ex.text ?? 'Loading…'),
  ];
}

function radio(name, value, label, current, on) {
  const id = `${name}-${value}`;
  return h('span', { class: 'radio' },
    h('input', { type: 'radio', id, name, value, checked: value === current, dataset: { fid: id }, onchange: () => on(value) }),
    h('label', { for: id }, label));
}

