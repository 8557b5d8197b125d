import { EngineHarness } from './helpers.js';

test('incr/decr: wraps at 2^64, floors at 0, keeps the length padded with spaces', () => {
  const h = new EngineHarness();
  h.run('set n 0 0 3\r\n100\r\nset m 0 0 20\r\n18446744073709551615\r\n');
  expect(h.run('decr n 95\r\nget n\r\n')).toBe('5\r\nVALUE n 0 3\r\n5  \r\nEND\r\n');
  expect(h.run('decr n 10\r\nincr m 2\r\n')).toBe('0\r\n1\r\n');
  expect(h.run('incr nope 1\r\nincr n x\r\n')).toBe('NOT_FOUND\r\nCLIENT_ERROR invalid numeric delta argument\r\n');
});

test('delete and touch', () => {
  const h = new EngineHarness();
  h.run('set a 0 0 1\r\nx\r\n');
  expect(h.run('touch a 10\r\ntouch b 10\r\n')).toBe('TOUCHED\r\nNOT_FOUND\r\n');
  expect(h.run('delete a 5\r\n')).toBe('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n');
  expect(h.run('delete a\r\ndelete a\r\ndelete a 0 noreply\r\n')).toBe('DELETED\r\nNOT_FOUND\r\n');
});
