/**
 * The handshake gate's sharing rule (HandshakeShares): who is displaced when every slot is taken,
 * and that the O(1) bookkeeping agrees with counting every address's slots by hand under random
 * arrivals, handshakes ending and displacements.
 */
import assert from 'node:assert/strict';
import { BlockList, isIPv4 } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { HandshakeShares, shareKeyOf } from './handshake-gate';

/** Fills `shares` to `slots` the way the gate does: a newcomer displaces or is refused. */
function arrive(shares: HandshakeShares<string>, slots: number, address: string, item: string): 'admitted' | 'refused' | string {
  let displaced: string | undefined;
  if (shares.size >= slots) {
    const d = shares.displaceFor(address);
    if (!d) return 'refused';
    shares.delete(d.item);
    displaced = d.item;
  }
  shares.add(address, item);
  return displaced ?? 'admitted';
}

test('a fleet from one address filling the slots is refused as before, never displaced by itself', () => {
  const shares = new HandshakeShares<string>();
  for (let i = 0; i < 8; i++) assert.equal(arrive(shares, 8, '127.0.0.1', `n${i}`), 'admitted');
  for (let i = 8; i < 20; i++) assert.equal(arrive(shares, 8, '127.0.0.1', `n${i}`), 'refused');
  assert.equal(shares.heldBy('127.0.0.1'), 8);
});

test('a client from another address displaces the oldest handshake of the address holding every slot', () => {
  const shares = new HandshakeShares<string>();
  for (let i = 0; i < 8; i++) arrive(shares, 8, '127.0.0.2', `a${i}`);
  assert.equal(arrive(shares, 8, '127.0.0.1', 'node'), 'a0');
  assert.equal(arrive(shares, 8, '127.0.0.2', 'a8'), 'refused', 'the attacker cannot take the slot back');
  assert.equal(arrive(shares, 8, '127.0.0.3', 'other'), 'a1');
});

test('the shares settle at equal and then nobody is displaced', () => {
  const shares = new HandshakeShares<string>();
  for (let i = 0; i < 8; i++) arrive(shares, 8, 'A', `a${i}`);
  const outcomes = Array.from({ length: 10 }, (_, i) => arrive(shares, 8, 'B', `b${i}`));
  assert.deepEqual(outcomes, ['a0', 'a1', 'a2', 'a3', 'refused', 'refused', 'refused', 'refused', 'refused', 'refused']);
  assert.equal(shares.heldBy('A'), 4);
  assert.equal(shares.heldBy('B'), 4);
  assert.equal(arrive(shares, 8, 'A', 'a9'), 'refused');
});

test('a fleet of one handshake per address is refused as before when the slots run out', () => {
  const shares = new HandshakeShares<string>();
  for (let i = 0; i < 8; i++) arrive(shares, 8, `10.0.0.${i}`, `n${i}`);
  assert.equal(shares.top, 1);
  assert.equal(arrive(shares, 8, '10.0.0.99', 'late'), 'refused');
  assert.equal(arrive(shares, 8, '10.0.0.1', 'again'), 'refused');
});

test('the bookkeeping agrees with counting every address by hand', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('arrive' as const), address: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ kind: fc.constant('end' as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 200 }), (slots, ops) => {
      const shares = new HandshakeShares<string>();
      const model = new Map<string, string[]>(); // address -> its items, oldest first
      const count = (a: string): number => model.get(a)?.length ?? 0;
      let next = 0;
      for (const o of ops) {
        if (o.kind === 'end') {
          const all = [...model.values()].flat();
          if (all.length === 0) continue;
          const item = all[o.pick % all.length];
          for (const [a, items] of model)
            if (items.includes(item))
              model.set(
                a,
                items.filter((i) => i !== item),
              );
          assert.equal(shares.delete(item), true);
          assert.equal(shares.delete(item), false);
          continue;
        }
        const address = `a${o.address}`;
        const item = `i${next++}`;
        const most = Math.max(0, ...[...model.values()].map((items) => items.length));
        const outcome = arrive(shares, slots, address, item);
        const total = [...model.values()].reduce((n, items) => n + items.length, 0);
        if (total < slots) assert.equal(outcome, 'admitted');
        else if (most - count(address) < 2) assert.equal(outcome, 'refused');
        else {
          const holders = [...model].filter(([, items]) => items.length === most);
          assert.ok(
            holders.some(([, items]) => items[0] === outcome),
            `displaced ${outcome}, the oldest of a top holder`,
          );
          for (const [a, items] of holders) if (items[0] === outcome) model.set(a, items.slice(1));
        }
        if (outcome !== 'refused') model.set(address, [...(model.get(address) ?? []), item]);
        for (const [a, items] of model) assert.equal(shares.heldBy(a), items.length);
        assert.equal(shares.top, Math.max(0, ...[...model.values()].map((items) => items.length)));
        assert.equal(
          shares.size,
          [...model.values()].reduce((n, items) => n + items.length, 0),
        );
      }
    }),
    { numRuns: 500 },
  );
});

/** Whether `address` is in the group `key` names, by Node's BlockList (a parser of addresses other than shareKeyOf's). */
function inGroup(key: string, address: string): boolean {
  const family = isIPv4(address) ? 'ipv4' : 'ipv6';
  if (isIPv4(key)) {
    const list = new BlockList();
    list.addAddress(key, 'ipv4');
    return list.check(address, family);
  }
  const [prefix, bits] = key.split('/');
  assert.equal(bits, '64');
  const mapped = new BlockList();
  mapped.addSubnet('::ffff:0:0', 96, 'ipv6');
  if (family === 'ipv4' || mapped.check(address, 'ipv6')) return false;
  const list = new BlockList();
  list.addSubnet(prefix, 64, 'ipv6');
  return list.check(address, 'ipv6');
}

/** An IPv6 address's eight groups written in one of the ways a peer's address can be: canonical, in full, upper case, with a dotted quad. */
function written(groups: number[], how: 'canonical' | 'full' | 'upper' | 'dotted'): string {
  const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
  if (how === 'full') return full;
  if (how === 'upper') return full.toUpperCase();
  const canonical = new URL(`http://[${full}]`).hostname.slice(1, -1);
  if (how === 'canonical') return canonical;
  const [g6, g7] = groups.slice(6);
  return `${groups
    .slice(0, 6)
    .map((g) => g.toString(16))
    .join(':')}:${[g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff].join('.')}`;
}

test('an IPv4 client is one address whether a listener sees it over IPv4 or as an IPv4-mapped IPv6 address', () => {
  for (const seen of ['127.0.0.2', '::ffff:127.0.0.2', '::FFFF:7f00:2', '0:0:0:0:0:ffff:127.0.0.2'])
    assert.equal(shareKeyOf(seen), '127.0.0.2', seen);
  assert.notEqual(shareKeyOf('::ffff:127.0.0.3'), '127.0.0.2');
  fc.assert(fc.property(fc.ipV4(), (v4) => shareKeyOf(`::ffff:${v4}`) === v4 && shareKeyOf(v4) === v4));
});

test('IPv6 clients of one /64 share one address, named by the prefix; clients of two /64s do not', () => {
  assert.equal(shareKeyOf('2001:db8:0:7::1'), '2001:db8:0:7::/64');
  assert.equal(shareKeyOf('2001:db8:0:7:ffff:1:2:3'), '2001:db8:0:7::/64');
  assert.equal(shareKeyOf('2001:db8:0:8::1'), '2001:db8:0:8::/64');
  assert.equal(shareKeyOf('::1'), '::/64');
  assert.equal(shareKeyOf('fe80::1%eth0'), 'fe80::/64');
  fc.assert(
    fc.property(fc.ipV6(), (address) => {
      const key = shareKeyOf(address);
      assert.ok(inGroup(key, address), `${address} in ${key}`);
      if (!isIPv4(key)) assert.equal(`[${key.slice(0, -3)}]`, new URL(`http://[${key.slice(0, -3)}]`).hostname, 'written canonically');
    }),
    { numRuns: 2000 },
  );
  const group = fc.integer({ min: 0, max: 0xffff });
  const groups = fc.oneof(
    fc.array(group, { minLength: 8, maxLength: 8 }),
    fc.array(group, { minLength: 4, maxLength: 4 }).map((low) => [0, 0, 0, 0, ...low]), // ::/64, as ::1
    fc.tuple(group, group).map(([a, b]) => [0, 0, 0, 0, 0, 0xffff, a, b]), // IPv4-mapped
  );
  const how = fc.constantFrom('canonical' as const, 'full' as const, 'upper' as const, 'dotted' as const);
  fc.assert(
    fc.property(groups, groups, fc.boolean(), how, how, (a, b, samePrefix, howA, howB) => {
      if (samePrefix) b = [...a.slice(0, 4), ...b.slice(4)];
      const [textA, textB] = [written(a, howA), written(b, howB)];
      const key = shareKeyOf(textA);
      assert.equal(shareKeyOf(textB) === key, inGroup(key, textB), `${textA} (${key}) and ${textB} (${shareKeyOf(textB)})`);
    }),
    { numRuns: 5000 },
  );
});
