/**
 * Every command on an item only the flash tier holds, through the protocol engine and the tiered store,
 * with exact reply bytes: gets read it asynchronously in pipeline order, commands that change it bring it
 * back to RAM first, writes and deletes hide the flash copy, and a second get promotes it.
 */
import { TextEngine } from '../../../../server/src/cache/engine/text.js';
import { Session, WANT_COMMAND, WANT_NREAD } from '../../../../server/src/cache/engine/session.js';
import { Counters, createCounterMemory } from '../../../../server/src/cache/metrics/counters.js';
import type { StatsSource } from '../../../../server/src/cache/metrics/stats-source.js';
import { Clock } from '../../../../server/src/runtime/clock.js';
import { NO_ITEM } from '../../../../server/src/cache/store/store.js';
import { NOW, inFlash, inRam, removeDir, rig, tempDir, type Rig } from '../flash/helpers.js';

const noStats = { general: () => [], settings: () => [], items: () => [], slabs: () => [], conns: () => [], reset() {} } as unknown as StatsSource;

/** Feeds `text` as one read event (as connection.ts does), waits for flash reads, returns the replies. */
async function send(engine: TextEngine, s: Session, text: string): Promise<string> {
  const buf = Buffer.from(text, 'latin1');
  let pos = 0;
  // Bounded: every pass consumes a line or a data block.
  for (let n = 0; pos < buf.length && n < 1000; n++) {
    if (s.want === WANT_NREAD) {
      s.want = WANT_COMMAND;
      engine.completeNread(s, buf, pos);
      pos += s.nreadBytes;
      continue;
    }
    const nl = buf.indexOf(10, pos);
    engine.processLine(s, buf, pos, nl - 1);
    pos = nl + 1;
  }
  if (s.pendingReads.length > 0) await new Promise<void>((resolve) => { s.onReadsDone = resolve; });
  s.onReadsDone = undefined;
  const out = s.out.buf.toString('latin1', 0, s.out.pos);
  s.out.reset();
  return out;
}

/** `me` reports an item's CAS without reading it (a read would make it hot and keep it in RAM). */
async function casOf(engine: TextEngine, s: Session, key: string): Promise<number> {
  const m = /cas=(\d+)/.exec(await send(engine, s, `me ${key}\r\n`));
  if (m === null) throw new Error(`no item ${key}`);
  return Number(m[1]);
}

describe('engine: commands on items only the flash tier holds', () => {
  let dir: string;
  let r: Rig;
  let engine: TextEngine;
  let s: Session;
  const cas = new Map<string, number>();
  const evict = (key: string): void => {
    const kb = Buffer.from(key);
    const h = r.store.hashKey(kb, 0, kb.length);
    r.store.lock(h);
    const ref = r.store.find(h, kb, 0, kb.length, NOW);
    if (ref !== NO_ITEM && r.tier.demote(h, ref, r.store, NOW)) r.store.unlink(h, ref);
    r.store.unlock(h);
  };
  const onFlashOnly = (key: string): boolean => inFlash(r.store, r.tier, Buffer.from(key)) !== null && !inRam(r.store, Buffer.from(key));

  const KEYS: Array<[string, string]> = [
    ['get', 'hello'], ['gets', 'x'], ['cas', 'x'], ['incr', '10'], ['app', 'abc'], ['touch', 't'], ['gat', 'gv'],
    ['del', 'd'], ['add', 'a'], ['rep', 'r'], ['mg', 'hello'], ['mgT', 'hello'], ['md', 'm'], ['ma', '10'],
    ['hot', 'h'], ['p1', 'one'], ['p2', 'two'],
  ];

  beforeAll(async () => {
    dir = tempDir();
    r = rig(dir);
    const clock = new Clock(Math.floor(Date.now() / 1000) - NOW);
    engine = new TextEngine(r.store, new Counters(createCounterMemory(1), 0), clock,
      { maxItemSize: 256 * 1024, shutdownEnabled: false, flushEnabled: true },
      { shutdown() {}, setVerbosity() {} }, noStats);
    s = new Session();
    for (const [k, v] of KEYS) {
      expect(await send(engine, s, `set t:${k} 7 0 ${v.length}\r\n${v}\r\n`)).toBe('STORED\r\n');
      cas.set(k, await casOf(engine, s, `t:${k}`));
    }
    // Evicted as RAM eviction does it: demoted under the lock, then dropped from RAM; then written to a file.
    for (const [k] of KEYS) evict(`t:${k}`);
    r.flusher.flushOnce();
  });

  afterAll(() => removeDir(dir));

  test('every target item is on flash and not in RAM before the commands run', () => {
    expect(KEYS.filter(([k]) => !onFlashOnly(`t:${k}`))).toEqual([]);
  });

  test('get and gets read it with its flags and CAS; a pipeline keeps its order around a miss', async () => {
    expect(await send(engine, s, 'get t:get\r\n')).toBe('VALUE t:get 7 5\r\nhello\r\nEND\r\n');
    expect(await send(engine, s, 'gets t:gets\r\n')).toBe(`VALUE t:gets 7 1 ${cas.get('gets')}\r\nx\r\nEND\r\n`);
    expect(await send(engine, s, 'get t:p1\r\nget nothere\r\nget t:p2 t:p1\r\n'))
      .toBe('VALUE t:p1 7 3\r\none\r\nEND\r\nEND\r\nVALUE t:p2 7 3\r\ntwo\r\nVALUE t:p1 7 3\r\none\r\nEND\r\n');
  });

  test('a second get within the window promotes the item to RAM, keeping its CAS', async () => {
    await send(engine, s, 'get t:hot\r\n');
    expect(inRam(r.store, Buffer.from('t:hot'))).toBe(false);
    await send(engine, s, 'get t:hot\r\n');
    expect(inRam(r.store, Buffer.from('t:hot'))).toBe(true);
    expect(await send(engine, s, 'gets t:hot\r\n')).toBe(`VALUE t:hot 7 1 ${cas.get('hot')}\r\nh\r\nEND\r\n`);
  });

  test('cas with the CAS the item had in RAM stores; incr, append, touch and gat work on it', async () => {
    expect(await send(engine, s, `cas t:cas 0 0 1 ${cas.get('cas')}\r\ny\r\n`)).toBe('STORED\r\n');
    expect(await send(engine, s, 'incr t:incr 5\r\n')).toBe('15\r\n');
    expect(await send(engine, s, 'append t:app 0 0 3\r\nxyz\r\n')).toBe('STORED\r\n');
    expect(await send(engine, s, 'get t:app t:cas\r\n')).toBe('VALUE t:app 7 6\r\nabcxyz\r\nVALUE t:cas 0 1\r\ny\r\nEND\r\n');
    expect(await send(engine, s, 'touch t:touch 1000\r\n')).toBe('TOUCHED\r\n');
    expect(onFlashOnly('t:touch')).toBe(false);
    expect(inRam(r.store, Buffer.from('t:touch'))).toBe(true);
    expect(await send(engine, s, 'gat 1000 t:gat\r\n')).toBe('VALUE t:gat 7 2\r\ngv\r\nEND\r\n');
  });

  test('add sees the flash item; replace replaces it; delete hides it from RAM and flash', async () => {
    expect(await send(engine, s, 'add t:add 0 0 1\r\nz\r\n')).toBe('NOT_STORED\r\n');
    expect(await send(engine, s, 'replace t:rep 0 0 1\r\nz\r\n')).toBe('STORED\r\n');
    expect(await send(engine, s, 'delete t:del\r\n')).toBe('DELETED\r\n');
    expect(await send(engine, s, 'get t:rep t:del\r\n')).toBe('VALUE t:rep 0 1\r\nz\r\nEND\r\n');
    expect(inFlash(r.store, r.tier, Buffer.from('t:del'))).toBeNull();
    expect(inFlash(r.store, r.tier, Buffer.from('t:rep'))).toBeNull();
  });

  test('meta: mg answers from the flash index; mg T, ma and md act on the item', async () => {
    expect(await send(engine, s, 'mg t:mg s v f c k\r\n')).toBe(`VA 5 s5 f7 c${cas.get('mg')} kt:mg\r\nhello\r\n`);
    expect(await send(engine, s, 'mg t:mgT T30 v\r\n')).toBe('VA 5\r\nhello\r\n');
    expect(inRam(r.store, Buffer.from('t:mgT'))).toBe(true);
    expect(await send(engine, s, 'ma t:ma v\r\n')).toBe('VA 2\r\n11\r\n');
    expect(await send(engine, s, 'md t:md\r\nmg t:md v\r\n')).toBe('HD\r\nEN\r\n');
  });
});
