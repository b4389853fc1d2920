/**
 * Reading and creating the item znodes of the masters' state (layout in zk-layout.ts): the
 * first master on a new or old ZooKeeper creates /flume/meta, moving a legacy /flume/state into
 * item znodes once; every master reads the items a change touched, or all of them.
 */
import type { Logger } from '../../core/logger';
import { emptyState } from './types';
import { isBadVersion, isNoNode, isNodeExists, type ZkClient } from './zk';
import { ITEM_DIRS, LEGACY_STATE, META, itemPath, itemsOf, keyOf, legacyState, metaOf, type ItemKey } from './zk-layout';

/** Runs `fn` on every item, at most 500 requests to ZooKeeper in flight. */
async function inChunks<T>(list: T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < list.length; i += 500) await Promise.all(list.slice(i, i + 500).map(fn));
}

/**
 * Creates /flume/meta if missing, first moving a legacy /flume/state into item znodes, and makes
 * sure /flume/meta's version is at least 1 (transactions cannot check version 0, see
 * ZkClient.multi). Safe to run on several masters at once.
 */
export async function ensureLayout(zk: ZkClient, log: Logger): Promise<void> {
  for (const dir of ITEM_DIRS) await zk.mkdirp(dir);
  if (!(await zk.exists(META))) {
    let state = emptyState();
    try {
      state = legacyState((await zk.getData(LEGACY_STATE)).data);
    } catch (err) {
      if (!isNoNode(err)) throw err;
    }
    const items = itemsOf(state);
    await inChunks([...items], async ([key, data]) => {
      try {
        await zk.create(itemPath(key), Buffer.from(data));
      } catch (err) {
        if (!isNodeExists(err)) throw err;
      }
    });
    try {
      await zk.create(META, Buffer.from(JSON.stringify(metaOf(state, []))));
      if (items.size > 0)
        log.info('Moved the state from /flume/state to one znode per config and per node.', {
          configs: Object.keys(state.configs).length,
          znodes: items.size,
        });
    } catch (err) {
      if (!isNodeExists(err)) throw err;
    }
  }
  try {
    const { data, stat } = await zk.getData(META);
    if (stat.version === 0) await zk.setData(META, data, 0);
  } catch (err) {
    if (!isBadVersion(err)) throw err;
  }
  try {
    await zk.remove(LEGACY_STATE);
  } catch (err) {
    if (!isNoNode(err)) throw err;
  }
}

/** The data of the items `keys` (undefined: the znode is gone). */
export async function readSome(zk: ZkClient, keys: Iterable<ItemKey>): Promise<Map<ItemKey, string | undefined>> {
  const read = new Map<ItemKey, string | undefined>();
  await inChunks([...keys], async (key) => {
    try {
      read.set(key, (await zk.getData(itemPath(key))).data.toString('utf8'));
    } catch (err) {
      if (!isNoNode(err)) throw err;
      read.set(key, undefined);
    }
  });
  return read;
}

/** Every item znode's data. */
export async function readAll(zk: ZkClient): Promise<Map<ItemKey, string>> {
  const items = new Map<ItemKey, string>();
  for (const dir of ITEM_DIRS) {
    const children = await zk.getChildren(dir);
    await inChunks(children, async (child) => {
      try {
        items.set(keyOf(dir, child), (await zk.getData(`${dir}/${child}`)).data.toString('utf8'));
      } catch (err) {
        if (!isNoNode(err)) throw err;
      }
    });
  }
  return items;
}
