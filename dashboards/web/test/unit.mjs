// Unit tests of the dashboard's pure modules (numbers for people, address
// arithmetic, the prefix tree, exposure), run with Node's test runner:
//   node --test dashboards/web/test/unit.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import * as fmt from '../js/format.js';
import { parsePrefix, formatAddr, unionSize, prefixTree } from '../js/net.js';
import { exposure, reduction } from '../js/state.js';

test('numbers for people', () => {
  assert.equal(fmt.count(999), '999');
  assert.equal(fmt.count(1234), '1.2\u202fk');
  assert.equal(fmt.count(1_200_000), '1.2\u202fM');
  assert.equal(fmt.count(250_000_000), '250\u202fM');
  assert.equal(fmt.plural(1, 'flow'), '1 flow');
  assert.equal(fmt.plural(1_200_000, 'flow'), '1.2\u202fM flows');
  assert.equal(fmt.bytes(81234), '81.2\u202fkB');
  assert.equal(fmt.prefixText('10.0.0.0/24'), '10.0.0.0/24 = 256 addresses');
  assert.equal(fmt.prefixText('203.0.113.7/32'), '203.0.113.7/32 = 1 address');
  assert.equal(fmt.cidrSize('::/0'), 2 ** 128);
  assert.equal(fmt.addresses(2 ** 128), '2¹²⁸ addresses');
  assert.equal(fmt.cidrSize('sg-123'), null);
  assert.equal(fmt.ports({ protocol: 'tcp', from_port: 8000, to_port: 8999 }), '8000–8999 (1\u202fk ports)');
  assert.equal(fmt.ports({ protocol: 'all', from_port: -1, to_port: -1 }), 'all traffic');
  assert.equal(fmt.ruleText({ protocol: 'tcp', from_port: 22, to_port: 22, source: '0.0.0.0/0' }, 'ingress'), 'tcp 22 from 0.0.0.0/0');
  assert.equal(fmt.ruleText({ protocol: 'all', from_port: -1, to_port: -1, source: '0.0.0.0/0' }, 'egress'), 'all to 0.0.0.0/0');
});

test('prefixes parse and print, IPv4 and IPv6', () => {
  assert.deepEqual(parsePrefix('10.1.2.3/32'), { v6: false, addr: 0x0a010203n, bits: 32, width: 32 });
  assert.equal(parsePrefix('10.1.2/32'), null);
  assert.equal(parsePrefix('10.1.2.300/32'), null);
  assert.equal(parsePrefix('1.2.3.4/33'), null);
  const p = parsePrefix('2600:1f18::1/128');
  assert.equal(formatAddr(p.addr, true), '2600:1f18::1');
  assert.equal(formatAddr(parsePrefix('::/0').addr, true), '::');
  assert.equal(formatAddr(parsePrefix('::ffff:10.0.0.1/128').addr, true), '::ffff:a00:1');
  assert.equal(parsePrefix('1:2:3:4:5:6:7:8:9/128'), null);
});

test('address unions count overlaps once', () => {
  assert.deepEqual(unionSize(['10.0.0.0/8', '10.1.0.0/16', '192.168.0.0/24', 'sg-1']), { v4: 2 ** 24 + 256, v6: 0 });
  assert.deepEqual(unionSize(['10.0.0.0/25', '10.0.0.128/25']), { v4: 256, v6: 0 });
  assert.deepEqual(unionSize(['::/0', '2600::/16']), { v4: 0, v6: 2 ** 128 });
});

test('the prefix tree groups leaves under their longest common prefixes', () => {
  const items = [
    { prefix: '10.0.1.10/32', exact: true, count: 1 },
    { prefix: '10.0.1.11/32', exact: true, count: 1 },
    { prefix: '10.0.77.0/24', exact: false, count: 40 },
    { prefix: '2600:1f18::1/128', exact: true, count: 1 },
  ];
  const [v4, v6] = prefixTree(items);
  assert.equal(v4.prefix, '10.0.0.0/17');
  assert.equal(v4.count, 42);
  assert.equal(v4.exact, false);
  assert.deepEqual(v4.children.map((c) => c.prefix), ['10.0.1.10/31', '10.0.77.0/24']);
  assert.deepEqual(v4.children[0].children.map((c) => [c.prefix, c.leaf]), [['10.0.1.10/32', true], ['10.0.1.11/32', true]]);
  assert.equal(v4.children[0].exact, true);
  assert.equal(v6.prefix, '2600:1f18::1/128');
  assert.equal(v6.leaf, true);
  // Every item is a leaf exactly once.
  const leaves = [];
  const walk = (n) => (n.leaf ? leaves.push(n.prefix) : n.children.forEach(walk));
  walk(v4); walk(v6);
  assert.deepEqual(leaves.sort(), items.map((i) => i.prefix).sort());
});

test('exposure and reduction follow the export package', () => {
  const rule = { protocol: 'tcp', from_port: 22, to_port: 22, source: '0.0.0.0/0' };
  assert.equal(exposure(rule), 2 ** 32);
  assert.equal(exposure({ protocol: 'all', from_port: -1, to_port: -1, source: '10.0.0.0/8' }), 2 ** 24 * 65536);
  assert.equal(exposure({ ...rule, source: '::/0' }), 2 ** 32);
  assert.equal(exposure({ ...rule, source: 'sg-1' }), 1);
  assert.equal(reduction({ verdict: 'keep', rule, proposed: [rule] }), 0);
  assert.equal(reduction({ verdict: 'remove', rule, proposed: [] }), 2 ** 32);
  assert.equal(reduction({ verdict: 'narrow', rule, proposed: [{ ...rule, source: '203.0.113.0/24' }] }), 2 ** 32 - 256);
});

test('apply candidates: accepted proposals that change a rule, in report order', async () => {
  const { candidates, selectionKey } = await import('../js/views/apply.js');
  const { Store } = await import('../js/state.js');
  const st = new Store();
  const sug = (g, verdict, source) => ({ group_id: g, direction: 'ingress', verdict,
    rule: { protocol: 'tcp', from_port: 22, to_port: 22, source }, proposed: [] });
  st.applySnapshot({ version: 3, keys: ['a', 'b', 'c', 'd'], snapshot: { suggestions: [
    sug('sg-1', 'narrow', '0.0.0.0/0'), sug('sg-1', 'keep', '10.0.0.0/8'), sug('sg-2', 'remove', '0.0.0.0/0'), sug('sg-3', 'narrow', '::/0')] },
  reviews: [{ rule_key: 'a', decision: 'accepted' }, { rule_key: 'b', decision: 'accepted' }, { rule_key: 'c', decision: 'accepted' },
    { rule_key: 'd', decision: 'rejected' }] });
  const list = candidates(st);
  assert.deepEqual(list.map((r) => r.key), ['a', 'c']); // b is a keep, d was rejected
  // A dry run is tied to the rules as they were: a changed suggestion needs another.
  const before = selectionKey(list);
  assert.equal(selectionKey([...list].reverse()), before);
  st.applyEvent({ version: 4, type: 'verdict-changed', rule_key: 'c', suggestion: sug('sg-2', 'narrow', '0.0.0.0/0') });
  assert.notEqual(selectionKey(candidates(st)), before);
  st.applyEvent({ version: 5, type: 'review', review: { rule_key: 'a', decision: 'deferred' } });
  assert.deepEqual(candidates(st).map((r) => r.key), ['c']);
});
