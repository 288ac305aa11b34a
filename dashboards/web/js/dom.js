// DOM building without markup parsing: every piece of text goes through
// text nodes, so names, descriptions and tags from the inventory (which an
// attacker may control) can never become elements or run script. Views
// build a new tree on every change; patch() morphs the page into it
// (morphdom), so that elements under the pointer or with focus stay.

import morphdom from '../vendor/morphdom/morphdom-esm.js';

/** The event handlers h() sets as properties (so that patch can move them). */
const EVENTS = ['onclick', 'oninput', 'onchange', 'onsubmit', 'onkeydown', 'ontoggle'];

/**
 * h builds an element. attrs: class, text, on* handlers (functions),
 * dataset (object), aria-* and other attributes (set with setAttribute;
 * never href/src with data, see link()). children: nodes, strings
 * (become text nodes), arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') {
      if (!EVENTS.includes(k)) throw new Error('unsupported event ' + k);
      el[k] = v;
    } else if (k === 'value') { el.value = v; if (tag === 'input') el.setAttribute('value', v); }
    else if (['checked', 'disabled', 'hidden', 'open', 'required', 'selected'].includes(k)) { el.setAttribute(k, ''); el[k] = true; }
    else if (k === 'style') throw new Error('inline styles are not allowed (CSP): use a class');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** append adds children (nodes, strings, arrays; null and false skipped). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/**
 * link is an in-app link to a view (query string built with
 * URLSearchParams, so data cannot change the scheme); nav is called with
 * the params on a plain click.
 */
export function link(params, nav, ...children) {
  const qs = new URLSearchParams(params).toString();
  return h('a', { href: '?' + qs, dataset: { nav: qs }, onclick: (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    nav(params);
  } }, ...children);
}

/**
 * patch makes el's children the given ones by morphing: elements that stay
 * keep their identity (focus, selection, scroll, pointer); keyed by
 * data-mkey or id. Event handler properties and charts are carried over.
 */
export function patch(el, ...children) {
  const next = el.cloneNode(false);
  append(next, children);
  morphdom(el, next, {
    childrenOnly: true,
    getNodeKey: (n) => (n.nodeType === 1 ? n.getAttribute('data-mkey') || n.id || undefined : undefined),
    onBeforeElUpdated: (from, to) => {
      for (const k of EVENTS) if (from[k] !== to[k]) from[k] = to[k];
      if (from.tagName === 'DETAILS' && from.dataset.mkey === to.dataset.mkey) to.open = from.open;
      if (from.classList.contains('chart') && from.dataset.chartSig === to.dataset.chartSig) return false;
      return true;
    },
  });
}
