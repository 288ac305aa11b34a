// Apply, for appliers when the daemon has apply enabled: the accepted
// proposals, a dry run of the chosen ones, then the real run after a
// confirmation, and what each step did. The daemon plans and dry-runs again
// on every run; this page only never offers the real run before a dry run
// of the same selection succeeded.

import { h } from '../dom.js';
import * as fmt from '../format.js';
import { table, empty, groupLink, ruleLink, verdictBadge, confidenceBadge } from '../components.js';

/** candidates: the accepted proposals that change a rule, in report order. */
export function candidates(store) {
  const out = [];
  for (const key of store.order) {
    const r = store.rules.get(key);
    if (!r || r.s.verdict === 'keep') continue;
    if (store.reviews.get(key)?.decision !== 'accepted') continue;
    out.push(r);
  }
  return out;
}

/**
 * selectionKey names a selection of rules [{key, version}] as they are now,
 * so that a dry run is tied to what it ran on: another choice, or a rule
 * whose suggestion changed since, needs a new dry run.
 */
export function selectionKey(rules) {
  return rules.map((r) => `${r.key}@${r.version}`).sort().join('\n');
}

/** applyView renders the Apply view; st is the page's apply state. */
export function applyView(ctx) {
  const st = ctx.applyState;
  const list = candidates(ctx.store);
  const chosenRules = list.filter((r) => !st.excluded.has(r.key));
  const chosen = chosenRules.map((r) => r.key);
  const sel = selectionKey(chosenRules);
  const dry = st.result && st.result.dry_run && st.resultFor === sel && !st.result.error
    && (st.result.steps || []).length > 0 ? st.result : null;
  const out = [
    h('h1', {}, 'Apply'),
    h('p', {}, 'Applies the accepted proposals to the account through the daemon’s apply role: the narrow rules are authorized before the wide ones are revoked, every call is dry-run first, and a run stops at its first failure. Every run is recorded in the audit log (and in ClickHouse’s applies table when configured). Proposals of low confidence or incomplete evidence are left out.'),
  ];
  if (!list.length) {
    out.push(empty('No accepted proposal to apply. Accept proposals in the overview first.'));
  } else {
    const rows = list.map((r) => {
      const id = 'ap-' + r.key.replace(/[^A-Za-z0-9_-]/g, '_');
      return h('tr', { dataset: { applyKey: r.key } },
        h('td', {}, h('input', { type: 'checkbox', id, checked: !st.excluded.has(r.key), disabled: !!st.running,
          dataset: { fid: id }, 'aria-label': 'include ' + r.key,
          onchange: (e) => { if (e.target.checked) st.excluded.delete(r.key); else st.excluded.add(r.key); ctx.render(); } })),
        h('td', {}, groupLink(ctx, r.s.group_id)),
        h('td', {}, ruleLink(ctx, r.key, r.s)),
        h('td', {}, verdictBadge(r.s.verdict), ' ', confidenceBadge(r.s)),
        h('td', {}, (r.s.proposed || []).length ? (r.s.proposed || []).map((p) => h('div', {}, fmt.ruleText(p, r.s.direction))) : 'removed'));
    });
    out.push(table(`${fmt.plural(list.length, 'accepted proposal')}, ${chosen.length} chosen`, ['', 'Group', 'Rule', 'Verdict', 'Becomes'], rows, 'apply-list'));
    const confirming = dry && st.confirming === sel;
    out.push(h('div', { class: 'btns toolbar', role: 'group', 'aria-label': 'apply' },
      h('button', { type: 'button', class: dry ? '' : 'primary', disabled: !!st.running || !chosen.length, dataset: { fid: 'apply-dry-run' },
        onclick: () => { st.confirming = ''; ctx.runApply(chosen, true, sel); } }, st.running === 'dry' ? 'Dry run…' : 'Dry run'),
      h('button', { type: 'button', class: 'danger', disabled: !!st.running || !dry || confirming, dataset: { fid: 'apply-run' },
        title: dry ? '' : 'a dry run of this selection must succeed first',
        onclick: () => { st.confirming = sel; ctx.render(); ctx.focusLater('apply-confirm'); } },
      st.running === 'real' ? 'Applying…' : `Apply to AWS${dry ? ` (${fmt.plural(dry.steps.length, 'call')})` : ''}`)));
    if (confirming && !st.running) {
      out.push(h('div', { class: 'confirm', role: 'alertdialog', 'aria-labelledby': 'apply-confirm-q' },
        h('p', { id: 'apply-confirm-q' }, `Change the account now: ${fmt.plural(dry.steps.length, 'call')} on ${fmt.plural(chosen.length, 'rule')}? The dry run allowed every call; the daemon dry-runs again before it changes anything.`),
        h('div', { class: 'btns' },
          h('button', { type: 'button', class: 'danger', dataset: { fid: 'apply-confirm' },
            onclick: () => { st.confirming = ''; ctx.runApply(chosen, false, sel); } }, 'Yes, apply'),
          h('button', { type: 'button', dataset: { fid: 'apply-cancel' }, onclick: () => { st.confirming = ''; ctx.render(); } }, 'Cancel'))));
    }
    if (!dry && chosen.length && !st.running) out.push(h('p', { class: 'muted' }, 'Apply to AWS becomes available after a dry run of this selection succeeds.'));
  }
  if (st.error) out.push(h('p', { class: 'error', role: 'alert' }, st.error));
  if (st.result) out.push(resultView(ctx, st.result));
  const runs = ctx.store.feed.filter((e) => e.type === 'apply' && e.apply);
  if (runs.length) {
    out.push(h('h2', {}, 'Runs seen by this page'),
      table(fmt.plural(runs.length, 'run'), ['Time', 'Who', 'Kind', 'Done', 'Not done', 'Skipped', 'Error'], runs.map((e) => h('tr', {},
        h('td', {}, fmt.time(e.time)), h('td', {}, e.apply.who), h('td', {}, e.apply.dry_run ? 'dry run' : 'apply'),
        h('td', { class: 'num' }, String(e.apply.done)), h('td', { class: 'num' }, String(e.apply.not_done)),
        h('td', { class: 'num' }, String(e.apply.skipped)), h('td', {}, e.apply.error || ''))), 'apply-runs'));
  }
  return out;
}

const STATUS = { done: 'done', allowed: 'allowed (dry run)', already: 'already there', failed: 'failed', 'not-done': 'not done' };

function resultView(ctx, res) {
  const steps = res.steps || [], skipped = res.skipped || [];
  const done = steps.filter((s) => ['done', 'allowed', 'already'].includes(s.status)).length;
  return h('section', { class: 'apply-result', 'aria-labelledby': 'h-apply-result', dataset: { testid: 'apply-result', runId: res.run_id || '', dryRun: String(!!res.dry_run) } },
    h('h2', { id: 'h-apply-result' }, res.dry_run ? 'Dry run' : 'Run', ' ', h('code', {}, res.run_id || '')),
    h('p', { role: 'status' }, `${res.who} · ${fmt.time(res.start)} · ${done} of ${fmt.plural(steps.length, 'call')} ${res.dry_run ? 'allowed' : 'done'}`,
      skipped.length ? `, ${fmt.plural(skipped.length, 'proposal')} left out` : ''),
    res.error ? h('p', { class: 'error', role: 'alert' }, res.error) : null,
    steps.length ? table('Calls, in order', ['#', 'Call', 'Group', 'Rules', 'Where', 'Outcome'], steps.map((s, i) => h('tr', { dataset: { status: s.status } },
      h('td', { class: 'num' }, String(i + 1)), h('td', {}, s.op), h('td', {}, h('code', {}, s.group_id)),
      h('td', {}, (s.rules && s.rules.length ? s.rules : [s.judged]).map((p) => h('div', {}, fmt.ruleText(p, s.op.endsWith('egress') ? 'egress' : 'ingress')))),
      h('td', {}, s.target || ''),
      h('td', {}, h('span', { class: ['badge', 'st-' + s.status] }, STATUS[s.status] || s.status),
        s.error ? h('div', { class: 'error' }, s.error) : null,
        (s.new_rule_ids || []).length ? h('div', { class: 'muted' }, 'new: ', s.new_rule_ids.join(', ')) : null))))
      : empty('No call to make.'),
    skipped.length ? table('Left out', ['Rule', 'Why'], skipped.map((s) => h('tr', {},
      h('td', {}, h('code', {}, s.rule_key)), h('td', {}, s.reason)))) : null);
}
