import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { planCommand, specText, type CommandContext } from './commands';
import { CommandError, emptyState, type MasterState } from './store/types';

const ctx: CommandContext = { baseDir: '/tmp' };

function run(state: MasterState, name: string, ...args: string[]): string {
  return planCommand(name, args, ctx)(state);
}

test('config with and without a flow; every change a larger version', () => {
  const s = emptyState();
  run(s, 'config', 'a', 'text("/x")', 'console');
  run(s, 'config', 'b', 'flowB', 'text("/y")', '{ batch(10) => null }');
  assert.deepEqual(s.configs.a, { flow: 'default', source: 'text("/x")', sink: 'console', version: 1 });
  assert.deepEqual(s.configs.b, { flow: 'flowB', source: 'text("/y")', sink: '{ batch(10) => null }', version: 2 });
  run(s, 'refresh', 'a');
  assert.equal(s.configs.a.version, 3);
  run(s, 'refreshAll');
  assert.deepEqual([s.configs.a.version, s.configs.b.version], [4, 5]);
});

test('a bad source or sink is refused with line:column before anything changes', () => {
  const s = emptyState();
  assert.throws(
    () => planCommand('config', ['a', 'text("/x"', '[ console, '], ctx),
    (err: Error) => {
      assert.ok(err instanceof CommandError);
      assert.match(err.message, /source 1:\d+: .*; sink 1:\d+: /);
      return true;
    },
  );
  assert.throws(() => planCommand('multiconfig', ['x : text("/a") | console ;\n\ny : text("/b") | < console ? ;'], ctx), /3:\d+/);
  assert.throws(
    () => planCommand('multiconfig', ['x : text("/a") | console ; x : text("/b") | null ;'], ctx),
    /duplicate logical node|configured twice/,
  );
  assert.throws(() => planCommand('multiconfig', ['  '], ctx), /configures no node/);
  assert.deepEqual(s, emptyState());
});

test('a node validator adds its problems (every one of them)', () => {
  const strict: CommandContext = {
    baseDir: '/tmp',
    validate: (n) => (n.source.name === 'text' ? [] : [new Error(`1:1: unknown source ${n.source.name}`), new Error('another')]),
  };
  assert.throws(() => planCommand('config', ['a', 'nosuch(1)', 'console'], strict), /unknown source nosuch; another/);
  assert.doesNotThrow(() => planCommand('config', ['a', 'text("/x")', 'console'], strict));
});

test('map moves a logical node; unmap, unmapAll; an unmapped node gets none listed', () => {
  const s = emptyState();
  run(s, 'map', 'p1', 'l1');
  run(s, 'spawn', 'p1', 'l2');
  run(s, 'map', 'p2', 'l1');
  assert.deepEqual(s.mappings, { p1: ['l2'], p2: ['l1'] });
  assert.throws(() => run(s, 'unmap', 'p1', 'l1'), /not mapped/);
  run(s, 'unmap', 'p1', 'l2');
  assert.deepEqual(s.mappings, { p2: ['l1'] });
  run(s, 'unmapAll');
  assert.deepEqual(s.mappings, {});
});

test('decommission removes config and mappings and the implicit node; config brings it back', () => {
  const s = emptyState();
  run(s, 'config', 'web', 'text("/x")', 'console');
  run(s, 'map', 'host', 'web');
  run(s, 'decommission', 'web');
  assert.deepEqual(s.configs, {});
  assert.deepEqual(s.mappings, {});
  assert.deepEqual(s.decommissioned, ['web']);
  assert.throws(() => run(s, 'decommission', 'web'), /neither configured nor mapped/);
  run(s, 'config', 'web', 'text("/x")', 'console');
  assert.deepEqual(s.decommissioned, []);
  assert.throws(() => run(s, 'unconfig', 'nope'), /has no config/);
});

test('unknown commands and wrong argument counts name the usage', () => {
  assert.throws(() => planCommand('nope', [], ctx), /unknown command "nope"; known: config, multiconfig/);
  assert.throws(() => planCommand('map', ['a'], ctx), /map takes 2 arguments: map PHYSICAL LOGICAL/);
  assert.throws(() => planCommand('map', ['a b', 'c'], ctx), /bad physical node name/);
  assert.doesNotThrow(() => planCommand('REFRESHALL', [], ctx), 'names are case-insensitive');
});

test('the saved spec text parses back to the same configs', () => {
  const s = emptyState();
  run(s, 'multiconfig', 'b : text("/b") | { batch(10) => console } ;\na : tail("/a") | [ console, null ] ;');
  const text = specText(s);
  const t = emptyState();
  run(t, 'multiconfig', text);
  assert.deepEqual(Object.keys(t.configs).sort(), ['a', 'b']);
  for (const k of ['a', 'b']) {
    assert.equal(t.configs[k].source, s.configs[k].source);
    assert.equal(t.configs[k].sink, s.configs[k].sink);
  }
});

test("save and load stay inside the data dir: .., absolute paths, symlinks out and the master's own files are refused unread", () => {
  const root = fs.mkdtempSync('/tmp/flume-cmd-');
  try {
    const data = path.join(root, 'data');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(root, 'secret'), 'root:x:0:0 words of a secret\n');
    fs.symlinkSync(path.join(root, 'secret'), path.join(data, 'link'));
    fs.symlinkSync(root, path.join(data, 'up'));
    const dctx: CommandContext = { baseDir: data };
    for (const [verb, file] of [
      ['load', path.join(root, 'secret')],
      ['load', '../secret'],
      ['load', 'link'],
      ['load', 'up/secret'],
      ['save', '/tmp/elsewhere.flume'],
      ['save', '../out.flume'],
      ['save', 'up/out.flume'],
      ['save', 'master-state.json'],
      ['load', 'nodes.json'],
    ]) {
      assert.throws(
        () => planCommand(verb, [file], dctx),
        (err: Error) => {
          assert.ok(err instanceof CommandError);
          assert.match(err.message, /is outside the master's data dir|is one of the master's own files/);
          assert.doesNotMatch(err.message, /root:x|secret\n|words/);
          return true;
        },
        `${verb} ${file}`,
      );
    }
    assert.deepEqual(fs.readdirSync(root).sort(), ['data', 'secret']);
    const state = emptyState();
    planCommand('config', ['a', 'text("/x")', 'console'], dctx)(state);
    assert.match(planCommand('save', ['sub/saved.flume'], dctx)(state), /saved 1 configs to .*\/data\/sub\/saved\.flume$/);
    assert.match(planCommand('load', ['sub/saved.flume'], dctx)(emptyState()), /1/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a node named like a property of every JavaScript object is refused by every command, and the state is unchanged', () => {
  const s = emptyState();
  run(s, 'config', 'a', 'text("/x")', 'console');
  run(s, 'map', 'host1', 'a');
  const before = JSON.stringify(s);
  const attempts: Array<[string, string[]]> = [];
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']) {
    attempts.push(
      ['config', [name, 'text("/x")', 'console']],
      ['multiconfig', [`${name} : text("/x") | console ;`]],
      ['unconfig', [name]],
      ['refresh', [name]],
      ['decommission', [name]],
      ['map', ['host1', name]],
      ['map', [name, 'a']],
      ['unmap', ['host1', name]],
      ['unmap', [name, 'a']],
      ['purge', [name]],
    );
  }
  for (const [command, args] of attempts) {
    assert.throws(
      () => run(s, command, ...args),
      (err: Error) => err instanceof CommandError && /every JavaScript object has/.test(err.message),
      `${command} ${args.join(' ')}`,
    );
  }
  assert.equal(JSON.stringify(s), before);
});
