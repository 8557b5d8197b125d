import { EngineHarness } from './helpers.js';

test('get, gets, bget: values in request order, misses left out, one END', () => {
  const h = new EngineHarness();
  h.run('set a 5 0 1\r\nx\r\nset b 0 0 2\r\nyz\r\n');
  expect(h.run('get a nope b\r\n')).toBe('VALUE a 5 1\r\nx\r\nVALUE b 0 2\r\nyz\r\nEND\r\n');
  expect(h.run('get a\r\n')).toBe('VALUE a 5 1\r\nx\r\nEND\r\n');
  expect(h.run('bget b\r\n')).toBe('VALUE b 0 2\r\nyz\r\nEND\r\n');
  expect(h.run('gets a\r\n')).toMatch(/^VALUE a 5 1 \d+\r\nx\r\nEND\r\n$/);
});

test('more than 23 keys: the rest of the line is tokenized again', () => {
  const h = new EngineHarness();
  h.run('set k30 0 0 1\r\nz\r\n');
  const keys = Array.from({ length: 30 }, (_, i) => `k${i + 1}`).join(' ');
  expect(h.run(`get ${keys}\r\n`)).toBe('VALUE k30 0 1\r\nz\r\nEND\r\n');
});

test('gat: touches and returns; a bad exptime or a too-long key is an error', () => {
  const h = new EngineHarness();
  h.run('set a 0 0 1\r\nx\r\n');
  expect(h.run('gat 100 a\r\n')).toBe('VALUE a 0 1\r\nx\r\nEND\r\n');
  expect(h.run('mg a t\r\n')).toMatch(/^HD t(99|100)\r\n$/);
  expect(h.run('gat x a\r\n')).toBe('CLIENT_ERROR invalid exptime argument\r\n');
  expect(h.run(`get a ${'k'.repeat(251)}\r\n`)).toBe('CLIENT_ERROR bad command line format\r\n');
});
