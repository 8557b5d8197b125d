// -M against memcached 1.6.18 -M: once memory is full, a write that needs space is refused with memcached's
// text and nothing stored before is lost. Where memory runs out differs (memcached's slab classes against
// cachalot's segments), so the two are compared on what happens from that point on, not byte for byte.
// cachalot runs with one shard here: with several, each shard reuses only its own dead bytes (see
// docs/architecture-store.md, "Limits"), so which write is refused first depends on the key's shard.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startMemcached, stopServer, type RunningServer } from '../../support/servers.js';
import { startCachalotServer, type Cachalot } from '../../support/cachalot.js';
import { McClient, storageCommand } from '../../support/mcclient.js';

const VALUE = Buffer.alloc(100_000, 'v');
/** -m 8 holds fewer than 100 values of 100 KB on either server; the loop stops at the first refusal. */
const MAX_SETS = 200;
const OOM = 'SERVER_ERROR out of memory storing object';

interface Filled {
  stored: number;
  firstRefusal: string;
  afterFull: string[];
  earliestStillThere: boolean;
  stats: { evictions: string | undefined; storeNoMemoryAtLeastTwo: boolean; evictionsSetting: string | undefined };
}

async function fillAndProbe(port: number): Promise<Filled> {
  const c = await McClient.connect(port);
  try {
    let stored = 0;
    let firstRefusal = '';
    for (let i = 0; i < MAX_SETS; i++) {
      const r = await c.request(storageCommand('set', `k${i}`, VALUE), 'line');
      if (r.line !== 'STORED') {
        firstRefusal = r.line;
        break;
      }
      stored++;
    }
    const afterFull: string[] = [];
    // A new key of the same size: refused again. An overwrite of a stored key: refused, and memcached drops
    // the old value (a failed set must not leave stale data), so the key then misses, and the space it
    // held takes the next item of its size.
    afterFull.push((await c.request(storageCommand('set', 'another', VALUE), 'line')).line);
    afterFull.push((await c.request(storageCommand('set', 'k1', VALUE), 'line')).line);
    afterFull.push(String((await c.request('get k1\r\n', 'values')).values.length));
    afterFull.push((await c.request(`ms new ${VALUE.length}\r\n${VALUE.toString('latin1')}\r\n`, 'line')).line);
    const earliest = await c.request('get k0\r\n', 'values');
    const stats = await c.stats();
    const settings = await c.stats('settings');
    return {
      stored: stored > 10 ? stored : -1,
      firstRefusal,
      afterFull,
      earliestStillThere: earliest.values.length === 1 && earliest.values[0]!.data.equals(VALUE),
      stats: {
        evictions: stats.get('evictions'),
        storeNoMemoryAtLeastTwo: Number(stats.get('store_no_memory')) >= 2,
        evictionsSetting: settings.get('evictions'),
      },
    };
  } finally {
    c.close();
  }
}

describe('-M -m 8: out of memory is an error, never an eviction', () => {
  let cachalot: Cachalot;
  let memcached: RunningServer;

  beforeAll(async () => {
    [cachalot, memcached] = await Promise.all([
      startCachalotServer({ threads: 2, metrics: false, extra: ['-M', '-m', '8', '-o', 'shards=1'] }),
      startMemcached(['-M', '-m', '8']),
    ]);
  });

  afterAll(async () => {
    await Promise.all([stopServer(cachalot?.server), stopServer(memcached)]);
  });

  it('fills, refuses with memcached\'s text, keeps every earlier item and counts no eviction', async () => {
    const [mine, theirs] = await Promise.all([fillAndProbe(cachalot.port), fillAndProbe(memcached.port)]);
    expect(theirs).toEqual({
      stored: expect.any(Number),
      firstRefusal: OOM,
      afterFull: [OOM, OOM, '0', 'HD'],
      earliestStillThere: true,
      stats: { evictions: '0', storeNoMemoryAtLeastTwo: true, evictionsSetting: 'off' },
    });
    expect({ ...mine, stored: mine.stored > 0 }).toEqual({ ...theirs, stored: theirs.stored > 0 });
  });

  it('a delete makes room again: the freed space takes a new item of the same size', async () => {
    const c = await McClient.connect(cachalot.port);
    try {
      // Memory is full from the test above; two deleted 100 KB items leave room for one more.
      expect((await c.request(storageCommand('set', 'late', VALUE), 'line')).line).toBe(OOM);
      expect((await c.request('delete k2\r\n', 'line')).line).toBe('DELETED');
      expect((await c.request('delete k3\r\n', 'line')).line).toBe('DELETED');
      expect((await c.request(storageCommand('set', 'late', VALUE), 'line')).line).toBe('STORED');
      expect((await c.request('get k0\r\n', 'values')).values.length).toBe(1);
      expect(await c.statNumber('evictions')).toBe(0);
    } finally {
      c.close();
    }
  });
});
