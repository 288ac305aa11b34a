// DOM building without markup parsing: every piece of text goes through
// text nodes, so names, descriptions and tags from the inventory (which an
// attacker may control) can never become elements or run script.

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
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'open' || k === 'required' || k === 'selected') el[k] = Boolean(v);
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
  return h('a', { href: '?' + qs, onclick: (e) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    nav(params);
  } }, ...children);
}

/** replace swaps el's children, keeping focus on the element with the same data-fid. */
export function replace(el, ...children) {
  const active = document.activeElement;
  const fid = active && el.contains(active) ? active.dataset.fid : undefined;
  const sel = fid && active && 'selectionStart' in active ? [active.selectionStart, active.selectionEnd] : null;
  el.replaceChildren();
  append(el, children);
  if (fid) {
    for (const c of el.querySelectorAll('[data-fid]')) {
      if (c.dataset.fid === fid) {
        c.focus({ preventScroll: true });
        if (sel && 'setSelectionRange' in c) { try { c.setSelectionRange(sel[0], sel[1]); } catch { /* not a text input */ } }
        break;
      }
    }
  }
}
