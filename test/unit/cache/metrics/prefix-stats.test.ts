// stats detail's table: memcached's counting rules and dump order (bucket = murmur3 seed 0 mod 256, newest
// first within a bucket), and its bound.
import { createPrefixStatsMemory, MAX_PREFIXES, PrefixStats } from '../../../../server/src/cache/metrics/prefix-stats.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('PrefixStats', () => {
  test('counts by the text before the first delimiter and dumps in memcached\'s order', () => {
    const p = new PrefixStats(createPrefixStatsMemory(), ':'.charCodeAt(0));
    const k = (s: string): [Buffer, number, number] => [b(s), 0, s.length];
    p.recordSet(...k('a:1'));
    p.recordGet(...k('a:1'), true);
    p.recordGet(...k('a:2'), false);
    p.recordDelete(...k('b:9'));
    p.recordSet(...k('x:y:z'));
    p.recordSet(...k(':lead'));
    p.recordGet(...k('nodelim'), true);
    // memcached 1.6.18 dumped these prefixes in this order for the same records.
    expect(p.dump().toString('latin1')).toBe(
      'PREFIX  get 0 hit 0 set 1 del 0\r\n'
      + 'PREFIX b get 0 hit 0 set 0 del 1\r\n'
      + 'PREFIX x get 0 hit 0 set 1 del 0\r\n'
      + 'PREFIX a get 2 hit 1 set 1 del 0\r\n'
      + 'END\r\n',
    );
    p.clear();
    expect(p.dump().toString('latin1')).toBe('END\r\n');
  });

  test('a key inside a larger buffer is read from its own offsets', () => {
    const p = new PrefixStats(createPrefixStatsMemory(), '/'.charCodeAt(0));
    const line = b('get users/42 other:1\r\n');
    p.recordGet(line, 4, 12, true);
    expect(p.dump().toString('latin1')).toBe('PREFIX users get 1 hit 1 set 0 del 0\r\nEND\r\n');
  });

  test(`counts at most ${MAX_PREFIXES} prefixes; later ones are not counted`, () => {
    const p = new PrefixStats(createPrefixStatsMemory(), ':'.charCodeAt(0));
    for (let i = 0; i <= MAX_PREFIXES; i++) {
      const key = b(`p${i}:k`);
      p.recordSet(key, 0, key.length);
    }
    const lines = p.dump().toString('latin1').split('\r\n');
    expect(lines.length - 2).toBe(MAX_PREFIXES); // minus END and the empty tail
    expect(lines).not.toContain(`PREFIX p${MAX_PREFIXES} get 0 hit 0 set 1 del 0`);
  });
});
