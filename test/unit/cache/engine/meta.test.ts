import { EngineHarness } from './helpers.js';

test('ms then mg with return flags; quiet mode hides a miss but not an error', () => {
  const h = new EngineHarness();
  expect(h.run('ms a 2 F7 T0 k O9\r\nhi\r\n')).toBe('HD ka O9\r\n');
  expect(h.run('mg a v f t s\r\n')).toBe('VA 2 f7 t-1 s2\r\nhi\r\n');
  expect(h.run('mg nope q\r\nmn\r\n')).toBe('MN\r\n');
  expect(h.run('mg a q q\r\n')).toBe('CLIENT_ERROR duplicate flag\r\n');
});

test('ms errors after the length swallow the value', () => {
  const h = new EngineHarness();
  expect(h.run('ms a 2 MZ\r\nhi\r\nmn\r\n')).toBe('CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n');
  expect(h.run('ms a 2 MA\r\nhi\r\n')).toBe('NS\r\n');
});

test('md, ma, me', () => {
  const h = new EngineHarness();
  h.run('ms n 1\r\n5\r\n');
  expect(h.run('ma n D2 v\r\nma n D2 MD v\r\n')).toBe('VA 1\r\n7\r\nVA 1\r\n5\r\n');
  expect(h.run('ma x N0 J10 v\r\n')).toBe('VA 2\r\n10\r\n');
  expect(h.run('ma n MX\r\n')).toBe('CLIENT_ERROR invalid mode for ma M token\r\n');
  expect(h.run('me n\r\n')).toMatch(/^ME n exp=-1 la=\d+ cas=\d+ fetch=no cls=1 size=61\r\n$/);
  expect(h.run('md n q\r\nmd n O1 k\r\n')).toBe('NF O1 kn\r\n');
});
