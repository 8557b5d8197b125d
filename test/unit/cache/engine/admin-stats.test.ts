import { EngineHarness } from './helpers.js';

test('flush_all: -F refuses before it looks at the exptime', () => {
  const off = new EngineHarness({ flushEnabled: false });
  expect(off.run('flush_all x\r\n')).toBe('CLIENT_ERROR flush_all not allowed\r\n');
  const on = new EngineHarness();
  on.run('set a 0 0 1\r\nx\r\n');
  expect(on.run('flush_all x\r\nflush_all\r\nget a\r\n')).toBe('CLIENT_ERROR invalid exptime argument\r\nOK\r\nEND\r\n');
});

test('verbosity, shutdown, watch, slabs, lru, lru_crawler, version, stats, unknown', () => {
  const h = new EngineHarness();
  expect(h.run('verbosity 5\r\nverbosity x\r\nverbosity 1 noreply\r\n')).toBe('OK\r\nCLIENT_ERROR bad command line format\r\n');
  expect(h.verbosity).toEqual([2, 1]);
  expect(h.run('shutdown\r\n')).toBe('ERROR: shutdown not enabled\r\n');
  expect(h.run('watch\r\nwatch noreply\r\n')).toBe('CLIENT_ERROR watch commands not allowed\r\n');
  expect(h.run('slabs reassign 1 2\r\nslabs automove 1\r\n')).toBe('CLIENT_ERROR slab reassignment disabled\r\nOK\r\n');
  expect(h.run('lru mode flat\r\nlru\r\nlru_crawler metadump all\r\n')).toBe('OK\r\nERROR\r\nERROR metadump not allowed\r\n');
  expect(h.run('version\r\n')).toBe('VERSION 1.6.18\r\n');
  expect(h.run('stats\r\nstats nope\r\n')).toBe('STAT pid 1\r\nEND\r\nERROR\r\n');
  expect(h.run('bogus\r\nGET / HTTP/1.1\r\n')).toBe('ERROR\r\n');
});
