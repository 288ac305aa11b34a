// A group: its rules with verdict, reasons, confidence, evidence and the
// current → proposed diff, each with its review.

import { h, link } from '../dom.js';
import * as fmt from '../format.js';
import {
  verdictBadge, reasonChips, confidenceBadge, reviewControls, ruleLink, evidenceList, diff, empty,
} from '../components.js';
import { exposureOf } from './overview.js';

export function group(ctx) {
  const id = ctx.params.get('id') || '';
  const g = ctx.store.groups.get(id) || {};
  const rules = ctx.store.list({ ...ctx.filters, group: id });
  const ex = exposureOf(rules);
  return [
    h('nav', { class: 'crumbs', 'aria-label': 'breadcrumb' }, link({ view: 'overview', ...ctx.filterParams() }, ctx.nav, 'Overview'), ' / ', id),
    h('h1', {}, g.name ? h('span', { class: 'gname' }, g.name) : 'Security group', ' ', h('code', { class: 'gid' }, id)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Account'), h('dd', {}, g.account_id || '–'),
      h('dt', {}, 'VPC'), h('dd', {}, g.vpc_id || '–'),
      h('dt', {}, 'Description'), h('dd', { class: 'desc' }, g.description || '–'),
      h('dt', {}, 'IPv4 addresses'), h('dd', {}, `${fmt.count(ex.now.v4)} → ${fmt.count(ex.after.v4)}`),
      h('dt', {}, 'Ports'), h('dd', {}, `${fmt.count(ex.portsNow)} → ${fmt.count(ex.portsAfter)}`)),
    rules.length ? h('ol', { class: 'rules' }, rules.map((r) => ruleCard(ctx, r))) : empty('No rules of this group match the filters.'),
  ];
}

export function ruleCard(ctx, r) {
  const s = r.s;
  return h('li', { class: ['rule-card', 'v-' + s.verdict], dataset: { mkey: 'c:' + r.key, key: r.key, version: String(r.version), verdict: s.verdict } },
    h('header', {},
      h('h2', {}, ruleLink(ctx, r.key, s)),
      h('span', { class: 'muted' }, s.direction + (s.rule_id ? ' · ' + s.rule_id : '')),
      verdictBadge(s.verdict), confidenceBadge(s),
      ctx.store.stopped.has(r.key) ? h('span', { class: ['badge', 'stopped'] }, 'stopped matching') : null),
    reasonChips(s.reasons),
    h('div', { class: 'cols' }, diff(s), evidenceList(s)),
    reviewControls(ctx, r.key, s));
}
