import { EngineHarness } from './helpers.js';

test('set, add, replace, append, prepend: memcached replies', () => {
  const h = new EngineHarness();
  expect(h.run('add a 0 0 1\r\nx\r\nadd a 0 0 1\r\ny\r\n')).toBe('STORED\r\nNOT_STORED\r\n');
  expect(h.run('replace b 0 0 1\r\ny\r\nreplace a 0 0 1\r\nb\r\n')).toBe('NOT_STORED\r\nSTORED\r\n');
  expect(h.run('append a 0 0 1\r\nc\r\nprepend a 0 0 1\r\na\r\nget a\r\n')).toBe('STORED\r\nSTORED\r\nVALUE a 0 3\r\nabc\r\nEND\r\n');
  expect(h.run('set a 0 0 1 noreply\r\nq\r\nget a\r\n')).toBe('VALUE a 0 1\r\nq\r\nEND\r\n');
});

test('cas: EXISTS on a stale unique, NOT_FOUND without the item', () => {
  const h = new EngineHarness();
  h.run('set a 0 0 1\r\nx\r\n');
  const unique = /VALUE a 0 1 (\d+)/.exec(h.run('gets a\r\n'))![1];
  expect(h.run(`cas a 0 0 1 ${Number(unique) + 1}\r\ny\r\n`)).toBe('EXISTS\r\n');
  expect(h.run(`cas a 0 0 1 ${unique}\r\ny\r\n`)).toBe('STORED\r\n');
  expect(h.run('cas nope 0 0 1 1\r\ny\r\n')).toBe('NOT_FOUND\r\n');
});

test('line errors: none swallow the data, which is then read as a command; too large swallows it', () => {
  const h = new EngineHarness({ maxItemSize: 1024 });
  expect(h.run('set a x 0 1\r\nz\r\n')).toBe('CLIENT_ERROR bad command line format\r\nERROR\r\n');
  expect(h.run(`set a 0 0 2000\r\n${'v'.repeat(2000)}\r\nget a\r\n`)).toBe('SERVER_ERROR object too large for cache\r\nEND\r\n');
  expect(h.run('set a 0 0 1\r\nxy\r\n')).toBe('CLIENT_ERROR bad data chunk\r\nERROR\r\n');
});
