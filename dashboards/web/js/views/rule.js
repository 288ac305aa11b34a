// A rule: its sources as a prefix tree with counts (exact and estimated),
// ports, first/last seen and its usage over time (uPlot).

import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { h, link } from '../dom.js';
import * as fmt from '../format.js';
import { prefixTree } from '../net.js';
import { ruleCard } from './group.js';
import { groupLabel, empty } from '../components.js';

export function rule(ctx) {
  const key = ctx.params.get('key') || '';
  const r = ctx.store.rules.get(key);
  const d = ctx.ruleDetail(key);
  const out = [h('nav', { class: 'crumbs', 'aria-label': 'breadcrumb' },
    link({ view: 'overview', ...ctx.filterParams() }, ctx.nav, 'Overview'), ' / ',
    r ? link({ view: 'group', id: r.s.group_id }, ctx.nav, groupLabel(ctx.store, r.s.group_id)) : null, r ? ' / rule' : null)];
  if (!r) {
    out.push(h('h1', {}, 'Rule'), empty(ctx.store.version ? 'This rule is not in the current state (removed, or an unknown key).' : 'Loading…'));
    return out;
  }
  out.push(h('h1', {}, 'Rule ', h('code', {}, key)));
  out.push(h('ol', { class: 'rules single' }, ruleCard(ctx, r)));
  if (d.error) { out.push(h('p', { class: 'error', role: 'alert' }, d.error)); return out; }
  if (!d.data) { out.push(h('p', { class: 'muted' }, 'Loading usage…')); return out; }
  const u = d.data.usage;
  out.push(h('p', { class: 'muted' }, `Usage as of ${fmt.time(d.at.toISOString())} `,
    h('button', { type: 'button', class: 'small', dataset: { fid: 'refresh-usage' }, onclick: () => ctx.refreshRule(key) }, 'Refresh')));
  if (!u) { out.push(empty('The daemon gives no usage detail for this rule.')); return out; }
  if (u.description) out.push(h('p', {}, 'Description: ', h('span', { class: 'desc' }, u.description)));
  out.push(h('div', { class: 'cols' },
    h('section', { 'aria-labelledby': 'h-usage' },
      h('h2', { id: 'h-usage' }, 'Usage over time'),
      u.series.length ? chart(ctx, u) : empty('No traffic in the window.'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Flows'), h('dd', {}, fmt.count(u.flows)),
        h('dt', {}, 'Packets'), h('dd', {}, fmt.count(u.packets)),
        h('dt', {}, 'Bytes'), h('dd', {}, fmt.bytes(u.bytes)),
        h('dt', {}, 'First seen'), h('dd', {}, fmt.time(u.first_seen)),
        h('dt', {}, 'Last seen'), h('dd', {}, u.last_seen ? `${fmt.time(u.last_seen)} (${fmt.ago(u.last_seen)})` : '–'),
        h('dt', {}, 'Time slot'), h('dd', {}, fmt.duration(u.bucket_seconds))),
      h('h2', {}, 'Ports seen'),
      u.ports.length ? h('ul', { class: 'plain' }, u.ports.map((p) => h('li', {},
        h('strong', {}, p.protocol), ' ', p.ranges.length ? p.ranges.join(', ') : '–',
        p.exact ? '' : h('span', { class: 'muted' }, ' (to 64-port buckets)')))) : empty('None.')),
    h('section', { 'aria-labelledby': 'h-sources' },
      h('h2', { id: 'h-sources' }, r.s.direction === 'egress' ? 'Destinations' : 'Sources'),
      h('p', { class: 'muted' }, `${fmt.plural(u.sources.length, 'leaf', 'leaves')}: exact addresses, and aggregates whose distinct addresses are estimated`),
      u.sources.length ? tree(u.sources) : empty('No sources seen.'))));
  return out;
}

function tree(items) {
  const render = (n, depth) => {
    const label = h('span', { class: 'node' },
      h('code', {}, n.prefix), ' ',
      h('span', { class: ['cnt', n.exact ? 'exact' : 'est'] }, (n.exact ? '' : '≈\u202f') + fmt.plural(n.count, 'source')),
      n.leaf ? h('span', { class: 'muted' }, n.exact ? (n.count === 1 ? ' exact' : '') : ' estimated') : null,
      ' ', h('span', { class: 'muted' }, '/' + n.prefix.split('/')[1] + ' = ' + fmt.addresses(fmt.cidrSize(n.prefix))));
    if (n.leaf) return h('li', { role: 'treeitem' }, label);
    return h('li', { role: 'treeitem', 'aria-expanded': 'true' },
      h('details', { open: depth < 6, dataset: { mkey: 't:' + n.prefix } }, h('summary', {}, label),
        h('ul', { role: 'group' }, n.children.map((c) => render(c, depth + 1)))));
  };
  return h('ul', { class: 'tree', role: 'tree', 'aria-label': 'sources by prefix' }, prefixTree(items).map((n) => render(n, 0)));
}

function chart(ctx, u) {
  const sig = `${u.series.length}:${u.series.at(-1)?.time}:${u.flows}:${ctx.theme()}`;
  ctx.chart(sig, (el) => plot(el, u));
  return h('div', { class: 'chart', role: 'img', dataset: { chartSig: sig }, 'aria-label': `flows per ${fmt.duration(u.bucket_seconds)}, last slots: `
    + u.series.slice(-5).map((p) => `${fmt.time(p.time)} ${fmt.count(p.flows)}`).join(', ') });
}

/** plot draws the usage series into el with uPlot; returns the plot. */
function plot(el, u) {
  const xs = u.series.map((p) => new Date(p.time).getTime() / 1000);
  const flows = u.series.map((p) => p.flows);
  const srcs = u.series.map((p) => p.sources);
  // Plot distinct sources when the series has them (a series of older state may lack them).
  const withSrcs = srcs.some((v) => v > 0);
  const css = getComputedStyle(document.documentElement);
  const color = (v) => css.getPropertyValue(v).trim() || '#888';
  const axis = { stroke: color('--muted'), grid: { stroke: color('--grid'), width: 1 }, ticks: { stroke: color('--grid') } };
  const incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8, 1e9];
  const zero = (_u, _min, max) => [0, Math.max(1, max * 1.1)];
  const opts = {
    width: Math.max(280, Math.floor(el.clientWidth - 12 || 560)), height: 220,
    scales: { x: { time: true }, flows: { range: zero }, src: { range: zero } },
    series: [
      {},
      { label: 'Flows', scale: 'flows', stroke: color('--accent'), fill: color('--accent-fill'), width: 2, value: (_u, v) => (v == null ? '–' : fmt.count(v)) },
      ...(withSrcs ? [{ label: 'Distinct sources', scale: 'src', stroke: color('--narrow'), width: 1.5, dash: [4, 3], value: (_u, v) => (v == null ? '–' : fmt.count(v)) }] : []),
    ],
    axes: [
      { ...axis },
      { ...axis, scale: 'flows', incrs, values: (_u, vals) => vals.map((v) => fmt.count(v)), size: 56 },
      ...(withSrcs ? [{ ...axis, scale: 'src', incrs, side: 1, grid: { show: false }, values: (_u, vals) => vals.map((v) => fmt.count(v)), size: 48 }] : []),
    ],
    cursor: { drag: { x: true, y: false } },
  };
  return new uPlot(opts, withSrcs ? [xs, flows, srcs] : [xs, flows], el);
}
