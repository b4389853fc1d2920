/**
 * The handshake gate's sharing rule (HandshakeShares): who is displaced when every slot is taken,
 * and that the O(1) bookkeeping agrees with counting every address's slots by hand under random
 * arrivals, handshakes ending and displacements.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { HandshakeShares } from './handshake-gate';

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
