// The page's model of the daemon's state: suggestions by rule key, reviews,
// stopped rules, groups, and the event feed, updated from the websocket.

import { cidrSize, portCount } from './format.js';

export const FEED_LIMIT = 500;

export class Store {
  constructor() {
    this.rules = new Map(); // key -> {key, s: suggestion, version}
    this.order = [];        // keys in report order
    this.reviews = new Map(); // key -> review
    this.stopped = new Set();
    this.groups = new Map(); // id -> {group_id, name, vpc_id, account_id, description}
    this.unattributed = [];
    this.window = null;
    this.feed = []; // newest first
    this.version = 0;
    this.snapshotAt = null;
    this.lastEventAt = null;
  }

  /** applySnapshot replaces the state with a snapshot event. */
  applySnapshot(ev) {
    const rep = ev.snapshot || { suggestions: [] };
    const keys = ev.keys || [];
    this.rules.clear();
    this.order = [];
    rep.suggestions.forEach((s, i) => {
      const key = keys[i] || fallbackKey(s);
      if (!this.rules.has(key)) this.order.push(key);
      this.rules.set(key, { key, s, version: ev.version });
    });
    this.reviews = new Map((ev.reviews || []).map((r) => [r.rule_key, r]));
    this.stopped = new Set(ev.stopped || []);
    this.unattributed = rep.unattributed_enis || [];
    this.window = rep.window || null;
    this.version = ev.version;
    this.snapshotAt = new Date();
    this.lastEventAt = new Date();
    this.pushFeed({ type: 'snapshot', version: ev.version, time: ev.time, count: rep.suggestions.length });
  }

  /** applyEvent applies one change event; returns the rule key it touched. */
  applyEvent(ev) {
    this.version = ev.version;
    this.lastEventAt = new Date();
    const key = ev.rule_key;
    switch (ev.type) {
      case 'verdict-changed':
        if (!this.rules.has(key)) this.order.push(key);
        this.rules.set(key, { key, s: ev.suggestion, version: ev.version });
        break;
      case 'rule-removed':
        this.rules.delete(key);
        this.order = this.order.filter((k) => k !== key);
        this.stopped.delete(key);
        break;
      case 'rule-stopped-matching':
        this.stopped.add(key);
        if (ev.suggestion && this.rules.has(key)) this.rules.set(key, { key, s: ev.suggestion, version: ev.version });
        break;
      case 'rule-resumed':
        this.stopped.delete(key);
        if (ev.suggestion && this.rules.has(key)) this.rules.set(key, { key, s: ev.suggestion, version: ev.version });
        break;
      case 'review':
        if (ev.review) this.reviews.set(ev.review.rule_key, ev.review);
        break;
    }
    this.pushFeed(ev);
    return key;
  }

  pushFeed(ev) {
    this.feed.unshift({ ...ev, snapshot: undefined, received: new Date() });
    if (this.feed.length > FEED_LIMIT) this.feed.length = FEED_LIMIT;
  }

  /** list returns the rules in report order, filtered. */
  list(f = {}) {
    const out = [];
    const q = (f.q || '').trim().toLowerCase();
    for (const key of this.order) {
      const r = this.rules.get(key);
      if (!r) continue;
      const s = r.s, g = this.groups.get(s.group_id) || {};
      if (f.group && s.group_id !== f.group) continue;
      if (f.verdict && s.verdict !== f.verdict) continue;
      if (f.direction && s.direction !== f.direction) continue;
      if (f.account && g.account_id !== f.account) continue;
      if (f.vpc && g.vpc_id !== f.vpc) continue;
      if (f.review) {
        const st = this.reviews.get(key)?.decision || 'pending';
        if (st !== f.review) continue;
      }
      if (q && !`${key} ${s.group_id} ${g.name || ''} ${s.rule.source} ${(s.reasons || []).join(' ')}`.toLowerCase().includes(q)) continue;
      out.push(r);
    }
    return out;
  }
}

/** fallbackKey mirrors the hub's key for suggestions given without one. */
function fallbackKey(s) {
  const r = s.rule;
  return `${s.group_id}|${s.direction}|${r.protocol}|${r.from_port}-${r.to_port}|${r.source}`;
}

/**
 * exposure scores what a rule spec lets in, as the export package does:
 * address space (IPv6 on an IPv4-like scale) times ports.
 */
export function exposure(spec) {
  let space = 1;
  const n = cidrSize(spec.source);
  if (n !== null) space = spec.source.includes(':') ? Math.max(1, n / 2 ** 96) : n;
  return space * portCount(spec);
}

/** reduction: the exposure a suggestion removes (0 for keep). */
export function reduction(s) {
  if (s.verdict === 'keep') return 0;
  const after = (s.proposed || []).reduce((a, p) => a + exposure(p), 0);
  return Math.max(0, exposure(s.rule) - after);
}
