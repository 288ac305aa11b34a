// Address arithmetic: parsing prefixes, unions of address space, and the
// prefix tree of a rule's observed sources.

/** parsePrefix returns {v6, addr: BigInt, bits, width} or null. */
export function parsePrefix(s) {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(s || '');
  if (!m) return null;
  const bits = Number(m[2]);
  const v6 = m[1].includes(':');
  const width = v6 ? 128 : 32;
  const addr = v6 ? parse6(m[1]) : parse4(m[1]);
  if (addr === null || bits > width) return null;
  return { v6, addr, bits, width };
}

function parse4(s) {
  const p = s.split('.');
  if (p.length !== 4) return null;
  let v = 0n;
  for (const x of p) {
    const n = Number(x);
    if (!/^\d{1,3}$/.test(x) || n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parse6(s) {
  let head = s, tail = '';
  if (s.includes('::')) [head, tail] = s.split('::');
  const hs = head ? head.split(':') : [];
  const ts = tail ? tail.split(':') : [];
  // An embedded IPv4 tail counts as two groups.
  const groups = [];
  for (const part of [...hs, '|', ...ts]) {
    if (part === '|') { groups.push('|'); continue; }
    if (part.includes('.')) {
      const v4 = parse4(part);
      if (v4 === null) return null;
      groups.push(Number(v4 >> 16n).toString(16), Number(v4 & 0xffffn).toString(16));
    } else groups.push(part);
  }
  const i = groups.indexOf('|');
  const a = groups.slice(0, i), b = groups.slice(i + 1);
  const fill = s.includes('::') ? 8 - a.length - b.length : 0;
  if (fill < 0 || (!s.includes('::') && a.length !== 8)) return null;
  let v = 0n;
  for (const g of [...a, ...Array(fill).fill('0'), ...b]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

/** formatAddr writes an address of the given width. */
export function formatAddr(v, v6) {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const g = [];
  for (let i = 7; i >= 0; i--) g.push(((v >> BigInt(16 * i)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups.
  let best = -1, len = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > len && j - i > 1) { best = i; len = j - i; }
    i = j;
  }
  if (best < 0) return g.join(':');
  return g.slice(0, best).join(':') + '::' + g.slice(best + len).join(':');
}

/**
 * unionSize returns the number of addresses covered by CIDR strings
 * (overlaps counted once), per family: {v4, v6} as Numbers.
 */
export function unionSize(cidrs) {
  const out = { v4: 0, v6: 0 };
  for (const v6 of [false, true]) {
    const spans = [];
    for (const c of cidrs) {
      const p = parsePrefix(c);
      if (!p || p.v6 !== v6) continue;
      const size = 1n << BigInt(p.width - p.bits);
      const start = (p.addr >> BigInt(p.width - p.bits)) << BigInt(p.width - p.bits);
      spans.push([start, start + size]);
    }
    spans.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let total = 0n, end = -1n;
    for (const [s, e] of spans) {
      if (e <= end) continue;
      total += e - (s > end ? s : end);
      end = e;
    }
    out[v6 ? 'v6' : 'v4'] = Number(total);
  }
  return out;
}

/**
 * prefixTree builds a radix tree over a sketch's source items
 * [{prefix, exact, count}]: each inner node is the longest common prefix
 * of its leaves, with the sum of their counts and whether all are exact.
 */
export function prefixTree(items) {
  const parsed = items.map((it) => ({ ...it, p: parsePrefix(it.prefix) })).filter((it) => it.p);
  const roots = [];
  for (const v6 of [false, true]) {
    const fam = parsed.filter((it) => it.p.v6 === v6).sort((a, b) => (a.p.addr < b.p.addr ? -1 : 1));
    if (fam.length) roots.push(build(fam, v6 ? 128 : 32, v6));
  }
  return roots;
}

function lcp(a, abits, b, bbits, width) {
  const max = Math.min(abits, bbits);
  let n = 0;
  while (n < max) {
    const bit = BigInt(width - 1 - n);
    if (((a >> bit) & 1n) !== ((b >> bit) & 1n)) break;
    n++;
  }
  return n;
}

function build(items, width, v6) {
  if (items.length === 1) {
    const it = items[0];
    return { prefix: it.prefix, count: it.count, exact: it.exact, leaf: true, children: [] };
  }
  const first = items[0].p, last = items[items.length - 1].p;
  let bits = lcp(first.addr, first.bits, last.addr, last.bits, width);
  for (const it of items) bits = Math.min(bits, it.p.bits);
  const shift = BigInt(width - bits);
  const base = (first.addr >> shift) << shift;
  const node = { prefix: formatAddr(base, v6) + '/' + bits, count: 0, exact: true, leaf: false, children: [] };
  // An item equal to the node's prefix (an aggregate containing the rest
  // cannot happen: items are disjoint) — split the others by the next bit.
  const bit = BigInt(width - 1 - bits);
  const zero = items.filter((it) => it.p.bits > bits && ((it.p.addr >> bit) & 1n) === 0n);
  const one = items.filter((it) => it.p.bits > bits && ((it.p.addr >> bit) & 1n) === 1n);
  const same = items.filter((it) => it.p.bits <= bits);
  for (const it of same) node.children.push({ prefix: it.prefix, count: it.count, exact: it.exact, leaf: true, children: [] });
  for (const g of [zero, one]) if (g.length) node.children.push(build(g, width, v6));
  for (const c of node.children) { node.count += c.count; node.exact = node.exact && c.exact; }
  return node;
}
