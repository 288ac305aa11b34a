// The overview: rules by verdict, exposure per group and in total, the
// proposals that remove the most exposure first, rules that stopped matching.

import { h, link } from '../dom.js';
import * as fmt from '../format.js';
import { unionSize } from '../net.js';
import { reduction, exposure } from '../state.js';
import {
  VERDICTS, verdictBadge, reasonChips, confidenceBadge, reviewControls, ruleLink, groupLink,
  table, empty,
} from '../components.js';

const TOP = 50;

export function overview(ctx) {
  const rules = ctx.store.list(ctx.filters);
  return [
    h('h1', {}, 'Overview'),
    summary(ctx, rules),
    proposals(ctx, rules),
    exposureByGroup(ctx, rules),
    stoppedMatching(ctx, rules),
  ];
}

/** exposureOf sums what a set of rules allows now, after the proposals, and what was seen. */
export function exposureOf(rules) {
  const now = [], after = [];
  let portsNow = 0, portsAfter = 0, sources = 0, refs = 0, scoreNow = 0, scoreAfter = 0;
  const portSpans = (specs) => {
    const spans = specs.filter((p) => p.protocol !== 'icmp' && p.protocol !== 'icmpv6')
      .map((p) => (p.protocol === 'all' || p.from_port < 0 ? [0, 65535] : [p.from_port, p.to_port]))
      .sort((a, b) => a[0] - b[0]);
    let n = 0, end = -1;
    for (const [s, e] of spans) { if (e <= end) continue; n += e - Math.max(s, end + 1) + 1; end = e; }
    return n;
  };
  const specsNow = [], specsAfter = [];
  for (const { s } of rules) {
    if (!/\//.test(s.rule.source)) refs++;
    now.push(s.rule.source);
    specsNow.push(s.rule);
    const prop = s.verdict === 'keep' ? [s.rule] : (s.proposed || []);
    for (const p of prop) { after.push(p.source); specsAfter.push(p); scoreAfter += exposure(p); }
    scoreNow += exposure(s.rule);
    sources += s.evidence?.distinct_sources || 0;
  }
  portsNow = portSpans(specsNow);
  portsAfter = portSpans(specsAfter);
  return { now: unionSize(now), after: unionSize(after), portsNow, portsAfter, sources, refs, scoreNow, scoreAfter };
}

function summary(ctx, rules) {
  const byVerdict = Object.fromEntries(VERDICTS.map((v) => [v, 0]));
  const byReview = { accepted: 0, rejected: 0, deferred: 0, pending: 0 };
  let low = 0;
  for (const r of rules) {
    byVerdict[r.s.verdict] = (byVerdict[r.s.verdict] || 0) + 1;
    if (r.s.verdict !== 'keep') byReview[ctx.store.reviews.get(r.key)?.decision || 'pending']++;
    if (r.s.confidence === 'low') low++;
  }
  const total = rules.length || 1;
  const ex = exposureOf(rules);
  const bar = h('div', { class: 'vbar', role: 'img', 'aria-label': VERDICTS.map((v) => `${byVerdict[v]} ${v}`).join(', ') },
    VERDICTS.map((v) => h('span', { class: ['seg', 'v-' + v, 'w' + Math.round((byVerdict[v] / total) * 20) * 5] })));
  return h('section', { class: 'cards', 'aria-label': 'summary' },
    h('div', { class: 'card' },
      h('h2', {}, 'Rules by verdict'),
      h('p', { class: 'big' }, fmt.count(rules.length), h('span', { class: 'unit' }, rules.length === 1 ? ' rule' : ' rules')),
      bar,
      h('ul', { class: 'legend' }, VERDICTS.map((v) => h('li', {},
        link({ ...ctx.filterParams(), verdict: v }, ctx.nav, verdictBadge(v), ' ', fmt.count(byVerdict[v]))))),
      low ? h('p', { class: 'muted' }, `${fmt.count(low)} with low confidence`) : null),
    h('div', { class: 'card' },
      h('h2', {}, 'Exposure (addresses × ports)'),
      h('p', { class: 'big', dataset: { testid: 'exposure-now' } }, fmt.count(ex.scoreNow)),
      h('p', {}, 'after the proposals: ', h('strong', {}, fmt.count(ex.scoreAfter)),
        ex.scoreNow > ex.scoreAfter ? ` (${pct(ex.scoreNow - ex.scoreAfter, ex.scoreNow)} less)` : ' (no change)'),
      h('p', {}, `IPv4 addresses: ${fmt.count(ex.now.v4)} → ${fmt.count(ex.after.v4)}`),
      ex.now.v6 ? h('p', { class: 'muted' }, `IPv6: ${fmt.addresses(ex.now.v6)} → ${fmt.addresses(ex.after.v6)}`) : null,
      ex.refs ? h('p', { class: 'muted' }, `${fmt.plural(ex.refs, 'rule')} reference groups or prefix lists`) : null),
    h('div', { class: 'card' },
      h('h2', {}, 'Ports allowed'),
      h('p', { class: 'big' }, fmt.count(ex.portsNow)),
      h('p', {}, 'after the proposals: ', h('strong', {}, fmt.count(ex.portsAfter))),
      h('p', { class: 'muted' }, `${fmt.count(ex.sources)} distinct sources seen (summed over rules)`)),
    h('div', { class: 'card' },
      h('h2', {}, 'Reviews'),
      h('p', { class: 'big' }, fmt.count(byReview.pending), h('span', { class: 'unit' }, ' pending')),
      h('ul', { class: 'legend' }, ['accepted', 'rejected', 'deferred'].map((d) => h('li', {},
        link({ ...ctx.filterParams(), review: d }, ctx.nav, d, ' ', fmt.count(byReview[d]))))),
      byReview.accepted ? link({ view: 'export' }, ctx.nav, 'Export the accepted proposals →') : null));
}

function pct(a, b) {
  const p = (a / b) * 100;
  return (p >= 99.95 && a !== b ? '>99.9' : p < 0.1 && a > 0 ? '<0.1' : p.toFixed(p < 10 ? 1 : 0)) + '%';
}

function proposals(ctx, rules) {
  const props = rules.filter((r) => r.s.verdict !== 'keep')
    .map((r) => ({ ...r, red: reduction(r.s) }))
    .sort((a, b) => b.red - a.red || a.key.localeCompare(b.key));
  const shown = ctx.params.get('all') === '1' ? props : props.slice(0, TOP);
  const rows = shown.map((r) => h('tr', { dataset: { mkey: 'p:' + r.key, key: r.key, version: String(r.version), verdict: r.s.verdict, confidence: r.s.confidence || '' } },
    h('td', {}, groupLink(ctx, r.s.group_id)),
    h('td', {}, ruleLink(ctx, r.key, r.s), h('div', { class: 'muted' }, r.s.direction)),
    h('td', {}, verdictBadge(r.s.verdict), ' ', confidenceBadge(r.s), reasonChips(r.s.reasons)),
    h('td', { class: 'proposed' }, r.s.verdict === 'remove' ? h('span', { class: 'muted' }, 'remove the rule')
      : (r.s.proposed || []).slice(0, 4).map((p) => h('div', {}, h('code', {}, p.source), ' ', h('span', { class: 'muted' }, fmt.ports(p)))),
    (r.s.proposed || []).length > 4 ? h('div', { class: 'muted' }, `and ${r.s.proposed.length - 4} more`) : null),
    h('td', { class: 'num' }, fmt.count(r.red), h('div', { class: 'muted' }, 'address·ports')),
    h('td', {}, reviewControls(ctx, r.key, r.s))));
  return h('section', { 'aria-labelledby': 'h-proposals' },
    h('h2', { id: 'h-proposals' }, 'Proposals, biggest reduction first'),
    props.length ? table(`${fmt.plural(props.length, 'proposal')}; exposure = addresses × ports removed`,
      ['Group', 'Rule', 'Verdict', 'Proposed', 'Exposure removed', 'Review'], rows, 'proposals') : empty('No proposals match the filters.'),
    props.length > shown.length ? link({ ...ctx.filterParams(), all: '1' }, ctx.nav, `Show all ${fmt.count(props.length)}`) : null);
}

function exposureByGroup(ctx, rules) {
  const by = new Map();
  for (const r of rules) {
    if (!by.has(r.s.group_id)) by.set(r.s.group_id, []);
    by.get(r.s.group_id).push(r);
  }
  const all = [...by.entries()].map(([id, rs]) => ({ id, rs, ex: exposureOf(rs) }))
    .sort((a, b) => (b.ex.scoreNow - b.ex.scoreAfter) - (a.ex.scoreNow - a.ex.scoreAfter) || a.id.localeCompare(b.id));
  const shown = ctx.params.get('all') === '1' ? all : all.slice(0, TOP);
  const rows = shown.map(({ id, rs, ex }) => {
      const g = ctx.store.groups.get(id) || {};
      return h('tr', { dataset: { mkey: 'g:' + id, group: id } },
        h('td', {}, groupLink(ctx, id)),
        h('td', {}, g.account_id || '–', h('div', { class: 'muted' }, g.vpc_id || '')),
        h('td', { class: 'num' }, fmt.count(rs.length)),
        h('td', { class: 'num' }, fmt.count(ex.now.v4), ' → ', h('strong', {}, fmt.count(ex.after.v4))),
        h('td', { class: 'num' }, fmt.count(ex.portsNow), ' → ', h('strong', {}, fmt.count(ex.portsAfter))),
        h('td', { class: 'num' }, fmt.count(ex.sources)),
        h('td', {}, VERDICTS.map((v) => {
          const n = rs.filter((r) => r.s.verdict === v).length;
          return n ? [verdictBadge(v), ' ', String(n), ' '] : null;
        })));
    });
  return h('section', { 'aria-labelledby': 'h-exposure' },
    h('h2', { id: 'h-exposure' }, 'Exposure per group, biggest reduction first'),
    rows.length ? table('Addresses (IPv4) and ports allowed now → after the proposals, and distinct sources seen',
      ['Group', 'Account / VPC', 'Rules', 'Addresses', 'Ports', 'Sources seen', 'Verdicts'], rows) : empty('No groups match the filters.'),
    all.length > shown.length ? link({ ...ctx.filterParams(), all: '1' }, ctx.nav, `Show all ${fmt.count(all.length)} groups`) : null);
}

function stoppedMatching(ctx, rules) {
  const st = rules.filter((r) => ctx.store.stopped.has(r.key));
  return h('section', { 'aria-labelledby': 'h-stopped' },
    h('h2', { id: 'h-stopped' }, 'Rules that stopped matching'),
    st.length ? h('ul', { class: 'plain' }, st.map((r) => h('li', { dataset: { mkey: 's:' + r.key, key: r.key } },
      groupLink(ctx, r.s.group_id), ' ', ruleLink(ctx, r.key, r.s), ' ',
      h('span', { class: 'muted' }, `last seen ${fmt.ago(r.s.evidence?.last_seen)}`))))
      : empty('Every rule that matched traffic still does.'));
}
