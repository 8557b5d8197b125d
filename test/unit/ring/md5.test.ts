import { createHash } from 'node:crypto';
import { md5First32 } from '../../../server/src/ring/md5.js';

test('md5First32 equals the first 4 digest bytes (little-endian) of node:crypto md5, for lengths 0..300', () => {
  let seed = 12345;
  const rand = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed >>> 24;
  };
  for (let len = 0; len <= 300; len++) {
    for (let rep = 0; rep < 3; rep++) {
      const buf = Buffer.alloc(len + 7);
      for (let i = 0; i < buf.length; i++) buf[i] = rand();
      const d = createHash('md5').update(buf.subarray(3, 3 + len)).digest();
      expect(md5First32(buf, 3, 3 + len)).toBe(d.readUInt32LE(0));
    }
  }
});
