// Pieces shared by the views: badges, evidence, the current → proposed
// diff and the review controls.

import { h, link } from './dom.js';
import * as fmt from './format.js';

export const VERDICTS = ['remove', 'narrow', 'keep'];
export const DECISIONS = { accepted: 'Accepted', rejected: 'Rejected', deferred: 'Deferred' };

const REASONS = {
  'no-traffic': 'no traffic in the window',
  'few-sources': 'few sources',
  'wide-cidr': 'CIDR wider than the traffic',
  'wide-ports': 'port range wider than the traffic',
  'wide-protocol': 'all protocols, few used',
  redundant: 'another rule allows the same traffic',
  'enough-sources': 'enough distinct sources to keep open',
  'in-use': 'in use',
  'group-reference': 'references a security group',
  'not-observed': 'some interfaces were not observed',
  'short-history': 'observed for less than the minimum history',
  'partial-logging': 'logging skipped records',
  'no-interfaces': 'no interface carries the group',
  'unresolved-reference': 'references something that cannot be resolved',
  'new-rule': 'created after the last flow-log record seen: no evidence yet',
};

export function verdictBadge(v) {
  return h('span', { class: ['badge', 'verdict', 'v-' + v] }, v);
}

export function reasonChips(reasons = []) {
  return h('ul', { class: 'chips', 'aria-label': 'reasons' },
    reasons.map((r) => h('li', { class: 'chip', title: REASONS[r] || r }, r)));
}

/** confidence shows high/low when the suggestion has it, nothing otherwise. */
export function confidenceBadge(s) {
  if (!s.confidence) return null;
  return h('span', { class: ['badge', 'conf', 'c-' + s.confidence], title: s.confidence === 'low'
    ? 'low confidence: exports leave it out unless asked' : 'high confidence' }, s.confidence + ' confidence');
}

export function reviewBadge(rv) {
  if (!rv) return h('span', { class: ['badge', 'review', 'r-pending'] }, 'pending');
  return h('span', { class: ['badge', 'review', 'r-' + rv.decision] }, DECISIONS[rv.decision] || rv.decision);
}

/** groupLabel: the group's name (as text) and id. */
export function groupLabel(store, id) {
  const g = store.groups.get(id);
  return h('span', { class: 'group-label' },
    g && g.name ? h('span', { class: 'gname' }, g.name) : null,
    h('code', { class: 'gid' }, id));
}

/** evidence: the counters, seen times and coverage when present. */
export function evidenceList(s) {
  const e = s.evidence || {};
  const items = [
    ['Flows', fmt.count(e.flows)],
    ['Packets', fmt.count(e.packets)],
    ['Bytes', fmt.bytes(e.bytes)],
    ['Distinct sources', (e.distinct_sources_estimated ? '≈\u202f' : '') + fmt.count(e.distinct_sources)
      + (e.distinct_sources_estimated ? ' (estimated)' : ' (exact)')],
    ['First seen', fmt.time(e.first_seen)],
    ['Last seen', e.last_seen ? `${fmt.time(e.last_seen)} (${fmt.ago(e.last_seen)})` : '–'],
  ];
  const c = e.coverage;
  if (c) {
    const unobs = (c.unobserved || []).length + (c.unobserved_more || 0);
    items.push(['Coverage', `${unobs ? `${fmt.count(c.interfaces - unobs)} of ` : 'all '}${fmt.plural(c.interfaces, 'interface')} observed`]);
    if (c.observed_from || c.observed_to) items.push(['Observed', `${fmt.time(c.observed_from)} → ${fmt.time(c.observed_to)}`]);
    if (unobs) items.push(['Not observed', [...(c.unobserved || []), c.unobserved_more ? `and ${c.unobserved_more} more` : ''].filter(Boolean).join(', ')]);
  } else {
    items.push(['Coverage', 'not reported']);
  }
  return h('dl', { class: 'evidence' }, items.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** diff shows the current rule and the proposed rules as a diff. */
export function diff(s) {
  const lines = [];
  const changed = s.verdict !== 'keep';
  lines.push(h('div', { class: ['dl', changed ? 'del' : 'same'] },
    h('span', { class: 'sign', 'aria-hidden': 'true' }, changed ? '−' : ' '),
    h('span', { class: 'sr-only' }, changed ? 'current, removed: ' : 'current, kept: '),
    fmt.ruleText(s.rule, s.direction), sizeNote(s.rule)));
  if (changed) {
    for (const p of s.proposed || []) {
      lines.push(h('div', { class: ['dl', 'add'] },
        h('span', { class: 'sign', 'aria-hidden': 'true' }, '+'),
        h('span', { class: 'sr-only' }, 'proposed: '),
        fmt.ruleText(p, s.direction), sizeNote(p)));
    }
    if (!(s.proposed || []).length) lines.push(h('div', { class: ['dl', 'note'] }, 'no replacement: the rule goes'));
  }
  return h('div', { class: 'diff', role: 'group', 'aria-label': 'current and proposed rules' }, lines);
}

function sizeNote(spec) {
  const n = fmt.cidrSize(spec.source);
  if (n === null) return null;
  return h('span', { class: 'size' }, ` /${spec.source.split('/')[1]} = ${fmt.addresses(n)}`);
}

/**
 * reviewControls: the latest review, and for reviewers the buttons to
 * accept, reject (with a comment) or defer.
 */
export function reviewControls(ctx, key, s) {
  const rv = ctx.store.reviews.get(key);
  const box = h('div', { class: 'review-box', dataset: { reviewFor: key } });
  box.append(reviewBadge(rv));
  if (rv) {
    box.append(h('span', { class: 'muted review-by' }, ` by ${rv.by} · ${fmt.ago(rv.time)}`));
    if (rv.comment) box.append(h('q', { class: 'review-comment' }, rv.comment));
  }
  if (s.verdict === 'keep' || !ctx.canReview()) return box;
  const draft = ctx.drafts.get(key);
  const busy = ctx.busy.has(key);
  if (draft !== undefined) {
    const id = 'c-' + cssId(key);
    const ta = h('textarea', { id, rows: 2, required: true, maxlength: 4096, dataset: { fid: 'comment:' + key },
      value: draft, oninput: (e) => ctx.drafts.set(key, e.target.value),
      onkeydown: (e) => { if (e.key === 'Escape') { ctx.drafts.delete(key); ctx.render(); } } });
    box.append(h('form', { class: 'reject-form', onsubmit: (e) => {
      e.preventDefault();
      const c = ctx.drafts.get(key) || '';
      if (!c.trim()) { ta.setCustomValidity('Say why you reject it'); ta.reportValidity(); return; }
      ctx.review(key, 'rejected', c);
    } },
    h('label', { for: id }, 'Why reject it?'), ta,
    h('div', { class: 'btns' },
      h('button', { type: 'submit', class: 'danger', disabled: busy, dataset: { fid: 'confirm-reject:' + key } }, 'Reject'),
      h('button', { type: 'button', dataset: { fid: 'cancel-reject:' + key }, onclick: () => { ctx.drafts.delete(key); ctx.render(); } }, 'Cancel'))));
    return box;
  }
  const cur = rv?.decision;
  const btn = (decision, label, action, onclick, cls) => h('button', {
    type: 'button', class: cls, disabled: busy || cur === decision, 'aria-pressed': String(cur === decision),
    dataset: { fid: action + ':' + key, action }, onclick,
  }, label);
  box.append(h('div', { class: 'btns', role: 'group', 'aria-label': 'review this proposal' },
    btn('accepted', 'Accept', 'accept', () => ctx.review(key, 'accepted', ''), cur ? '' : 'primary'),
    btn('rejected', 'Reject…', 'reject', () => { ctx.drafts.set(key, ''); ctx.render(); ctx.focusLater('comment:' + key); }),
    btn('deferred', 'Defer', 'defer', () => ctx.review(key, 'deferred', ''))));
  return box;
}

export function cssId(s) {
  let out = '';
  for (const ch of s) out += /[A-Za-z0-9_-]/.test(ch) ? ch : '_' + ch.codePointAt(0).toString(16);
  return out;
}

export function ruleLink(ctx, key, s, text) {
  return link({ view: 'rule', key }, ctx.nav, text || fmt.ruleText(s.rule, s.direction));
}

export function groupLink(ctx, id) {
  return link({ view: 'group', id }, ctx.nav, groupLabel(ctx.store, id));
}

/** table builds an accessible table: caption, header row, body rows. */
export function table(caption, headers, rows, cls) {
  return h('div', { class: 'table-wrap' }, h('table', { class: cls },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows)));
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}
