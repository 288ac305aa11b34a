// Numbers, sizes, times and rules formatted for people.

const SI = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

/** count: 999 → "999", 1234 → "1.2 k", 1.234e6 → "1.2 M". */
export function count(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e15) return expo(n);
  for (const [v, s] of SI) {
    if (a >= v) {
      const x = n / v;
      return (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1).replace(/\.0$/, '')) + '\u202f' + s;
    }
  }
  return String(Math.round(n));
}

/** expo writes huge numbers as powers of two when exact, else 1.2 × 10^n. */
export function expo(n) {
  const l = Math.log2(n);
  if (Number.isInteger(l)) return '2' + sup(l);
  const e = Math.floor(Math.log10(n));
  return (n / 10 ** e).toFixed(1) + '\u202f×\u202f10' + sup(e);
}

const SUP = { '0': '⁰', '1': '¹', '2': '²', '3': '³', '4': '⁴', '5': '⁵', '6': '⁶', '7': '⁷', '8': '⁸', '9': '⁹', '-': '⁻' };
function sup(n) { return String(n).split('').map((c) => SUP[c] || c).join(''); }

/** plural: plural(1, 'flow') → "1 flow", plural(1200, 'flow') → "1.2 k flows". */
export function plural(n, word, many = word + 's') {
  return count(n) + ' ' + (n === 1 ? word : many);
}

/** bytes: decimal units, 81234 → "81 kB". */
export function bytes(n) {
  if (n === undefined || n === null) return '–';
  const u = [[1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']];
  for (const [v, s] of u) if (n >= v) return (n / v >= 100 ? (n / v).toFixed(0) : (n / v).toFixed(1)) + '\u202f' + s;
  return n + '\u202fB';
}

/** addresses in a CIDR: "10.0.0.0/24" → 256; null when not a CIDR. */
export function cidrSize(source) {
  const m = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(source || '');
  if (!m) return null;
  const width = m[1].includes(':') ? 128 : 32;
  return 2 ** (width - Number(m[2]));
}

/** addresses: 256 → "256 addresses", 2^32 → "4.3 G addresses". */
export function addresses(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1e15) return expo(n) + ' addresses';
  return plural(n, 'address', 'addresses');
}

/** prefixText: "10.0.0.0/24" → "10.0.0.0/24 = 256 addresses". */
export function prefixText(source) {
  const n = cidrSize(source);
  if (n === null) return source;
  return `${source} = ${addresses(n)}`;
}

/** ports of a rule spec: "all ports", "22", "8000–8999 (1 k ports)". */
export function ports(r) {
  if (r.protocol === 'all') return 'all traffic';
  if (r.protocol === 'icmp' || r.protocol === 'icmpv6') {
    if (r.from_port < 0) return 'all types';
    return `type ${r.from_port}` + (r.to_port >= 0 ? ` code ${r.to_port}` : '');
  }
  if (r.from_port < 0) return 'all ports';
  if (r.from_port === r.to_port) return String(r.from_port);
  return `${r.from_port}–${r.to_port} (${count(r.to_port - r.from_port + 1)} ports)`;
}

/** portCount: how many ports a rule spec opens (65,536 for all). */
export function portCount(r) {
  if (r.protocol !== 'all' && r.from_port >= 0 && r.to_port >= r.from_port) return r.to_port - r.from_port + 1;
  return 65536;
}

/** ruleText: "tcp 22 from 0.0.0.0/0", for a direction. */
export function ruleText(r, direction) {
  const proto = r.protocol === 'all' ? 'all' : r.protocol;
  const p = r.protocol === 'all' ? '' : ' ' + ports(r);
  return `${proto}${p} ${direction === 'egress' ? 'to' : 'from'} ${r.source}`;
}

/** time: local date and time, "29 Nov 14:05:04". */
export function time(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '–';
  return d.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** ago: "12 s ago", "3 min ago", "2 h ago", "4 d ago". */
export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  return duration(Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000))) + ' ago';
}

/** duration in seconds for people: 10 → "10 s", 3600 → "1 h". */
export function duration(s) {
  if (s < 60) return `${s}\u202fs`;
  if (s < 3600) return `${Math.round(s / 60)}\u202fmin`;
  if (s < 86400) return `${Math.round(s / 3600)}\u202fh`;
  return `${Math.round(s / 86400)}\u202fd`;
}
