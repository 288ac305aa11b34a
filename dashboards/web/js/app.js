// cinch's live dashboard: a snapshot then every change from the events
// websocket, applied in place; views chosen by the URL's query string so
// that links can be shared; reviews with a token kept for the session.

import { h, patch, link } from './dom.js';
import * as fmt from './format.js';
import { Live } from './live.js';
import { Store } from './state.js';
import { overview } from './views/overview.js';
import { group } from './views/group.js';
import { rule } from './views/rule.js';
import { unattributed, events, exportView } from './views/misc.js';
import { applyView } from './views/apply.js';
import { VERDICTS } from './components.js';

const TOKEN_KEY = 'cinch.token';
const THEME_KEY = 'cinch.theme';
const FILTERS = ['q', 'account', 'vpc', 'group', 'verdict', 'direction', 'review'];
const VIEWS = {
  overview: { title: 'Overview', render: overview },
  group: { title: 'Group', render: group, hidden: true },
  rule: { title: 'Rule', render: rule, hidden: true },
  unattributed: { title: 'Unattributed', render: unattributed },
  events: { title: 'Events', render: events },
  export: { title: 'Export', render: exportView },
  apply: { title: 'Apply', render: (c) => (canApply() ? applyView(c) : noApply()), when: () => canApply() },
};

const store = new Store();
const els = {
  main: document.getElementById('main'),
  nav: document.getElementById('views'),
  filters: document.getElementById('filters'),
  conn: document.getElementById('conn'),
  who: document.getElementById('who'),
  theme: document.getElementById('theme'),
  toast: document.getElementById('toast'),
  dialog: document.getElementById('signin'),
};

let me = null; // {name, role, apply} from whoami
const charts = new Map(); // signature -> build(el), for this render
const plots = new Set();  // chart elements holding a uPlot
const drafts = new Map();
const busy = new Set();
const details = new Map(); // rule key -> {data, error, at, loading}
const exports = { want: '', got: '', text: null, error: '', loading: false };
// The Apply view's state: rules left out of the selection, the run under
// way ('dry' or 'real'), the last result and the selection it ran on.
const applyState = { excluded: new Set(), running: '', result: null, resultFor: '', confirming: '', error: '' };
let renderQueued = false;
let focusAfter = null;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

async function api(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const t = opts.token ?? token();
  if (t) headers.set('Authorization', 'Bearer ' + t);
  return fetch(new URL(path, document.baseURI), { ...opts, headers, cache: 'no-store' });
}

async function errorText(resp) {
  try { return (await resp.json()).error || resp.statusText; } catch { return resp.statusText; }
}

// ---- URL state ----

function params() { return new URLSearchParams(location.search); }

function filters() {
  const p = params(), f = {};
  for (const k of FILTERS) if (p.get(k)) f[k] = p.get(k);
  return f;
}

function nav(next) {
  const qs = new URLSearchParams(next).toString();
  history.pushState(null, '', qs ? '?' + qs : location.pathname);
  focusAfter = 'h1';
  render();
}

function setParam(k, v) {
  const p = params();
  if (v) p.set(k, v); else p.delete(k);
  history.replaceState(null, '', '?' + p.toString());
  render();
}

window.addEventListener('popstate', () => { focusAfter = 'h1'; render(); });

// ---- actions ----

async function review(key, decision, comment) {
  busy.add(key);
  render();
  try {
    const resp = await api('api/v1/reviews', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rule_key: key, decision, comment }),
    });
    if (!resp.ok) throw new Error(`${resp.status}: ${await errorText(resp)}`);
    drafts.delete(key);
    toast(`${decision[0].toUpperCase()}${decision.slice(1)}.`);
  } catch (e) {
    toast('Review failed: ' + e.message, true);
  } finally {
    busy.delete(key);
    render();
  }
}

function canApply() { return !!(me && me.role === 'applier' && me.apply); }

function noApply() {
  return [h('h1', {}, 'Apply'), h('p', { class: 'empty' }, me && me.role === 'applier'
    ? 'Apply is disabled on this daemon (set apply.enabled and apply.role_arn).'
    : 'Applying proposals needs an applier token: sign in with one.')];
}

// runApply asks the daemon to apply (or dry-run) the chosen accepted
// proposals; sel names the selection as it was, to tie a dry run to it.
async function runApply(rules, dryRun, sel) {
  if (applyState.running) return;
  applyState.running = dryRun ? 'dry' : 'real';
  applyState.error = '';
  render();
  try {
    const resp = await api('api/v1/apply', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rules, dry_run: dryRun }),
    });
    let body = null;
    try { body = await resp.json(); } catch { /* not JSON */ }
    if (body && Array.isArray(body.steps)) {
      applyState.result = body;
      applyState.resultFor = sel;
      if (body.error) toast((dryRun ? 'Dry run failed: ' : 'Apply stopped: ') + body.error, true);
      else toast(dryRun ? 'Dry run allowed every call.' : 'Applied.');
    } else {
      throw new Error(`${resp.status}: ${body?.error || resp.statusText}`);
    }
  } catch (e) {
    applyState.error = (dryRun ? 'Dry run failed: ' : 'Apply failed: ') + e.message;
    toast(applyState.error, true);
  } finally {
    applyState.running = '';
    render();
  }
}

function ruleDetail(key) {
  let d = details.get(key);
  if (!d) { d = { loading: false }; details.set(key, d); fetchRule(key); }
  return d;
}

async function fetchRule(key) {
  const d = details.get(key) || {};
  details.set(key, d);
  if (d.loading) { d.again = true; return; }
  d.loading = true;
  try {
    const resp = await api('api/v1/rules/' + encodeURIComponent(key));
    if (!resp.ok) throw new Error(await errorText(resp));
    d.data = await resp.json();
    d.error = '';
    d.at = new Date();
  } catch (e) {
    d.error = 'Could not load the rule: ' + e.message;
  } finally {
    d.loading = false;
    if (d.again) { d.again = false; fetchRule(key); }
    render();
  }
}

let ruleTimer = 0;
function refreshRuleSoon(key) {
  clearTimeout(ruleTimer);
  ruleTimer = setTimeout(() => fetchRule(key), 300);
}

// exportText returns the export of the current state, fetching it again
// (at most one request at a time) when the state or the options changed.
function exportText(format, status) {
  const want = `${format}|${status}|${store.version}`;
  if (exports.want !== want) {
    const options = `${format}|${status}`;
    if (!exports.want || !exports.want.startsWith(options + '|')) { exports.text = null; exports.format = format; exports.status = status; }
    exports.want = want;
    fetchExport();
  }
  return exports;
}

async function fetchExport() {
  if (exports.loading) return;
  exports.loading = true;
  const want = exports.want;
  const [format, status] = want.split('|');
  try {
    const resp = await api(`api/v1/export?format=${encodeURIComponent(format)}&status=${encodeURIComponent(status)}`);
    if (!resp.ok) throw new Error(await errorText(resp));
    const text = await resp.text();
    if (exports.want.startsWith(`${format}|${status}|`)) { exports.text = text; exports.error = ''; exports.got = want; }
  } catch (e) {
    exports.error = 'Export failed: ' + e.message;
  } finally {
    exports.loading = false;
    if (exports.want !== want) setTimeout(fetchExport, 200); // the state moved on meanwhile
    render();
  }
}

let groupsTimer = 0;
function loadGroups() {
  clearTimeout(groupsTimer);
  groupsTimer = setTimeout(async () => {
    try {
      const resp = await api('api/v1/groups');
      if (!resp.ok) return;
      const body = await resp.json();
      store.groups = new Map(body.groups.map((g) => [g.group_id, g]));
      render();
    } catch { /* the next snapshot retries */ }
  }, 50);
}

function toast(text, error = false) {
  els.toast.textContent = text;
  els.toast.className = error ? 'toast error show' : 'toast show';
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { els.toast.className = 'toast'; }, error ? 8000 : 3000);
}

// ---- live ----

const live = new Live({
  token,
  probe: async () => (await api('api/v1/whoami')).status,
  onAuthFailed: () => openSignIn('The daemon needs a token to show its state.'),
  onSnapshot: (ev) => {
    store.applySnapshot(ev);
    loadGroups();
    for (const k of details.keys()) if (k === params().get('key')) refreshRuleSoon(k); else details.delete(k);
    render();
  },
  onEvent: (ev) => {
    const key = store.applyEvent(ev);
    if (ev.suggestion && !store.groups.has(ev.suggestion.group_id)) loadGroups();
    if (key && params().get('view') === 'rule' && params().get('key') === key) refreshRuleSoon(key);
    else if (key) details.delete(key);
    render();
  },
  onStatus: () => renderStatus(),
});

// ---- rendering ----

function ctx() {
  const p = params();
  return {
    store, params: p, filters: filters(), nav, setParam, drafts, busy, review, ruleDetail, applyState, runApply,
    refreshRule: (k) => fetchRule(k), exportText,
    filterParams: () => filters(),
    canReview: () => me && (me.role === 'reviewer' || me.role === 'applier'),
    render, focusLater: (fid) => { focusAfter = fid; },
    chart: (sig, build) => charts.set(sig, build),
    theme: () => document.documentElement.dataset.theme || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'),
  };
}

function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(renderNow);
}

function renderNow() {
  renderQueued = false;
  const p = params();
  const name = VIEWS[p.get('view')] ? p.get('view') : 'overview';
  const c = ctx();
  charts.clear();
  renderNav(name);
  renderFilters(name);
  patch(els.main, store.snapshotAt ? VIEWS[name].render(c)
    : [h('h1', {}, VIEWS[name].title), h('p', { class: 'muted', role: 'status' }, 'Waiting for the daemon’s state…')]);
  drawCharts();
  document.title = `${VIEWS[name].title} · cinch`;
  document.body.dataset.view = name;
  document.body.dataset.version = String(store.version);
  document.body.dataset.epoch = live.epoch || '';
  document.body.dataset.role = me?.role || '';
  if (focusAfter) {
    const target = focusAfter === 'h1' ? els.main.querySelector('h1')
      : [...els.main.querySelectorAll('[data-fid]')].find((e) => e.dataset.fid === focusAfter);
    if (target) { if (focusAfter === 'h1') target.setAttribute('tabindex', '-1'); target.focus(); }
    focusAfter = null;
  }
  renderStatus();
}

// drawCharts builds the uPlot charts whose data changed, and drops those
// that left the page.
function drawCharts() {
  for (const el of els.main.querySelectorAll('.chart[data-chart-sig]')) {
    const sig = el.dataset.chartSig;
    if (el.cinchSig === sig || !charts.has(sig)) continue;
    if (el.cinchPlot) el.cinchPlot.destroy();
    el.replaceChildren();
    el.cinchPlot = charts.get(sig)(el);
    el.cinchSig = sig;
    plots.add(el);
  }
  for (const el of plots) {
    if (!el.isConnected) { el.cinchPlot?.destroy(); plots.delete(el); }
  }
}
window.addEventListener('resize', () => {
  for (const el of plots) el.cinchPlot?.setSize({ width: Math.max(280, el.clientWidth - 12), height: 220 });
});

function renderNav(current) {
  patch(els.nav, Object.entries(VIEWS).filter(([, v]) => !v.hidden && (!v.when || v.when())).map(([k, v]) => {
    const a = link({ view: k, ...(k === 'overview' ? filters() : {}) }, nav, v.title,
      k === 'unattributed' && store.unattributed.length ? h('span', { class: 'count' }, String(store.unattributed.length)) : null);
    if (k === current || (k === 'overview' && (current === 'group' || current === 'rule'))) a.setAttribute('aria-current', 'page');
    a.dataset.fid = 'nav-' + k;
    return a;
  }));
}

function renderFilters(view) {
  if (!['overview', 'group', 'rule'].includes(view)) { els.filters.hidden = true; return; }
  els.filters.hidden = false;
  const f = filters();
  const groups = [...store.groups.values()];
  const uniq = (xs) => [...new Set(xs.filter(Boolean))].sort();
  const select = (k, label, options) => {
    const id = 'f-' + k;
    return h('span', { class: 'field' }, h('label', { for: id }, label),
      h('select', { id, dataset: { fid: id }, onchange: (e) => setParam(k, e.target.value) },
        h('option', { value: '' }, 'all'),
        options.map(([v, t]) => h('option', { value: v, selected: f[k] === v }, t))));
  };
  patch(els.filters,
    h('span', { class: 'field search' }, h('label', { for: 'f-q' }, 'Search'),
      h('input', { id: 'f-q', type: 'search', value: f.q || '', placeholder: 'group, name, source, reason…', autocomplete: 'off',
        dataset: { fid: 'f-q' }, oninput: (e) => setParam('q', e.target.value) })),
    select('account', 'Account', uniq(groups.map((g) => g.account_id)).map((a) => [a, a])),
    select('vpc', 'VPC', uniq(groups.map((g) => g.vpc_id)).map((a) => [a, a])),
    view === 'overview' ? select('group', 'Group', groups.filter((g) => store.order.some((k) => store.rules.get(k)?.s.group_id === g.group_id))
      .map((g) => [g.group_id, g.name ? `${g.name} (${g.group_id})` : g.group_id])) : null,
    select('verdict', 'Verdict', VERDICTS.map((v) => [v, v])),
    select('direction', 'Direction', [['ingress', 'ingress'], ['egress', 'egress']]),
    select('review', 'Review', [['pending', 'pending'], ['accepted', 'accepted'], ['rejected', 'rejected'], ['deferred', 'deferred']]),
    Object.keys(f).length ? h('button', { type: 'button', class: 'small', dataset: { fid: 'f-clear' }, onclick: () => {
      const p = params();
      for (const k of FILTERS) p.delete(k);
      history.replaceState(null, '', '?' + p.toString());
      render();
    } }, 'Clear filters') : null);
}

function renderStatus() {
  const st = live.state || 'connecting';
  document.body.dataset.conn = st;
  let text;
  if (st === 'live') text = [h('span', { class: 'dot' }), `Live · v${store.version}`, store.lastEventAt ? h('span', { class: 'muted' }, ` · ${fmt.ago(store.lastEventAt.toISOString())}`) : null];
  else if (st === 'connecting') text = [h('span', { class: 'dot' }), store.version ? 'Reconnecting…' : 'Connecting…'];
  else {
    const secs = Math.max(0, Math.ceil(((live.retryAt || 0) - Date.now()) / 1000));
    text = [h('span', { class: 'dot' }), `Disconnected${live.downSince ? ' since ' + fmt.time(live.downSince.toISOString()) : ''}`,
      h('span', { class: 'muted' }, store.version ? ` · showing v${store.version}, may be stale` : ''),
      secs ? h('span', { class: 'muted' }, ` · retry in ${secs}\u202fs`) : null,
      ' ', h('button', { type: 'button', class: 'small', onclick: () => live.reconnectNow() }, 'Retry now')];
  }
  patch(els.conn, text);
  els.conn.className = 'conn ' + st;
  document.body.classList.toggle('stale', st !== 'live' && store.version > 0);
  patch(els.who, me && me.role
    ? [h('span', { class: 'muted' }, 'Signed in as '), h('strong', {}, me.name), ` (${me.role}) `,
      h('button', { type: 'button', class: 'small', onclick: signOut }, 'Sign out')]
    : h('button', { type: 'button', class: 'small', id: 'signin-btn', onclick: () => openSignIn() }, 'Sign in'));
}
setInterval(() => { if (live.state !== 'live' || store.lastEventAt) renderStatus(); }, 1000);

// ---- sign-in ----

function openSignIn(why) {
  const form = els.dialog.querySelector('form');
  form.reset();
  els.dialog.querySelector('.why').textContent = why || 'Enter an API token: a reviewer token lets you accept, reject and defer proposals; an applier token also applies them.';
  els.dialog.querySelector('.error').textContent = '';
  if (!els.dialog.open) els.dialog.showModal();
}

els.dialog.querySelector('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  if (e.submitter && e.submitter.value === 'cancel') { els.dialog.close(); return; }
  const t = els.dialog.querySelector('input[name=token]').value.trim();
  const err = els.dialog.querySelector('.error');
  if (!t) { err.textContent = 'Enter a token.'; return; }
  try {
    const resp = await api('api/v1/whoami', { token: t });
    if (!resp.ok) { err.textContent = resp.status === 401 ? 'This token is not accepted.' : await errorText(resp); return; }
    me = await resp.json();
    sessionStorage.setItem(TOKEN_KEY, t);
    els.dialog.close();
    toast(`Signed in as ${me.name} (${me.role}).`);
    live.reconnectNow();
    render();
  } catch (ex) {
    err.textContent = 'The daemon did not answer: ' + ex.message;
  }
});

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  drafts.clear();
  applyState.result = null;
  applyState.error = '';
  whoami().then(() => { live.reconnectNow(); render(); });
}

async function whoami() {
  try {
    const resp = await api('api/v1/whoami');
    if (resp.ok) { me = await resp.json(); return; }
    me = null;
    if (resp.status === 401) {
      if (token()) sessionStorage.removeItem(TOKEN_KEY);
      openSignIn(token() ? 'Your token is no longer accepted.' : 'The daemon needs a token to show its state.');
    }
  } catch { me = null; }
}

// ---- theme ----

function applyTheme() {
  const t = localStorage.getItem(THEME_KEY);
  if (t) document.documentElement.dataset.theme = t; else delete document.documentElement.dataset.theme;
  const label = t ? `Theme: ${t}` : 'Theme: system';
  els.theme.textContent = label;
  els.theme.setAttribute('aria-label', label + ' (change)');
}
els.theme.addEventListener('click', () => {
  const order = [null, 'dark', 'light'];
  const cur = localStorage.getItem(THEME_KEY);
  const next = order[(order.indexOf(cur) + 1) % order.length];
  if (next) localStorage.setItem(THEME_KEY, next); else localStorage.removeItem(THEME_KEY);
  applyTheme();
  render(); // charts read the theme's colours
});
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => render());

// Keyboard: "/" focuses the search.
document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName)) {
    const q = document.getElementById('f-q');
    if (q) { e.preventDefault(); q.focus(); }
  }
});

els.filters.addEventListener('submit', (e) => e.preventDefault());
applyTheme();
await whoami();
render();
live.start();
