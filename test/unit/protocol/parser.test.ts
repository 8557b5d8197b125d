import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  E_BAD_EXPTIME, E_BAD_FLAG, E_BAD_FORMAT, E_DELETE_USAGE, E_ERROR, E_MG_OPTS_TOO_LONG, E_OPAQUE_TOO_LONG,
  E_OPTS_TOO_LONG, LINE_TOO_LONG, NEED_MORE, RequestParser,
} from '../../../server/src/protocol/parser.js';
import {
  CMD_ADD, CMD_APPEND, CMD_CAS, CMD_DELETE, CMD_FLUSH_ALL, CMD_GAT, CMD_GET, CMD_HTTP, CMD_INCR, CMD_MA, CMD_MD,
  CMD_ME, CMD_MG, CMD_MS, CMD_SET, CMD_STATS, CMD_TOUCH, CMD_UNKNOWN, COMMANDS, lookupCommand,
} from '../../../server/src/protocol/commands.js';


const ENGINE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../server/src/cache/engine');

function parse(line: string) {
  const p = new RequestParser();
  const buf = Buffer.from(line, 'latin1');
  const next = p.parse(buf, 0, buf.length, 1 << 20);
  return { next, req: p.req, p, buf };
}

test('parse returns the offset after the line, or NEED_MORE before its newline', () => {
  const p = new RequestParser();
  const buf = Buffer.from('get a\r\nset b 0 0 1\r\nx\r\n', 'latin1');
  expect(p.parse(buf, 0, 3, 4096)).toBe(NEED_MORE);
  expect(p.parse(buf, 0, buf.length, 4096)).toBe(7);
  expect(p.req.cmd).toBe(CMD_GET);
  expect(buf.toString('latin1', p.req.keyStart, p.req.keyEnd)).toBe('a');
  expect(p.parse(buf, 7, buf.length, 4096)).toBe(20);
  expect(p.req.cmd).toBe(CMD_SET);
  expect(p.req.vlen).toBe(1);
  expect(p.req.error).toBeNull();
});

test('a line without newline past 2 KiB is too long unless it is a get within the get bound', () => {
  const p = new RequestParser();
  const set = Buffer.from('set ' + 'k'.repeat(3000), 'latin1');
  expect(p.parse(set, 0, set.length, 1 << 20)).toBe(LINE_TOO_LONG);
  const get = Buffer.from('get ' + 'k '.repeat(1500), 'latin1');
  expect(p.parse(get, 0, get.length, 1 << 20)).toBe(NEED_MORE);
  expect(p.parse(get, 0, get.length, 2500)).toBe(LINE_TOO_LONG);
});

test('the command table: every name is found, and names the file under cache/engine that executes it', () => {
  for (const c of COMMANDS) {
    const b = Buffer.from(c.name, 'latin1');
    expect(lookupCommand(b, 0, b.length)).toBe(c);
    expect(existsSync(resolve(ENGINE, c.handler))).toBe(true);
  }
  const b = Buffer.from('gett', 'latin1');
  expect(lookupCommand(b, 0, 4)).toBeUndefined();
});

test('token counts outside the table answer ERROR, as process_command_ascii does', () => {
  expect(parse('set a 0 0\r\n').req.error).toBe(E_ERROR);
  expect(parse('cas a 0 0 1\r\n').req.error).toBe(E_ERROR);
  expect(parse('incr a\r\n').req.error).toBe(E_ERROR);
  expect(parse('get\r\n').req.error).toBe(E_ERROR);
  expect(parse('x\r\n').req.error).toBe(E_ERROR);
  expect(parse('mg\r\n').req.error).toBe(E_ERROR);
  expect(parse('bogus a b\r\n').req.cmd).toBe(CMD_UNKNOWN);
});

test('storage lines: numbers checked as safe_strto* does, noreply silences their errors', () => {
  const ok = parse('cas k 5 100 3 77 noreply\r\n').req;
  expect([ok.cmd, ok.flags, ok.exptime, ok.vlen, ok.cas, ok.noreply, ok.error]).toEqual([CMD_CAS, 5, 100, 3, 77, true, null]);
  expect(parse('set k x 0 1\r\n').req.error).toBe(E_BAD_FORMAT);
  expect(parse('set k 0 0 -1\r\n').req.error).toBe(E_BAD_FORMAT);
  expect(parse('set k 0 0 2147483646\r\n').req.error).toBe(E_BAD_FORMAT);
  expect(parse(`add ${'k'.repeat(251)} 0 0 1\r\n`).req.error).toBe(E_BAD_FORMAT);
  const quiet = parse('append k 0 0 x noreply\r\n').req;
  expect([quiet.cmd, quiet.error, quiet.noreply, quiet.vlen]).toEqual([CMD_APPEND, E_BAD_FORMAT, true, -1]);
  expect(parse('add k 4294967295 -1 0\r\n').req).toMatchObject({ cmd: CMD_ADD, flags: 4294967295, exptime: -1, vlen: 0 });
});

test('touch, incr, delete, gat, flush_all: their own error texts', () => {
  expect(parse('touch k x\r\n').req.error).toBe(E_BAD_EXPTIME);
  expect(parse('touch k 10\r\n').req).toMatchObject({ cmd: CMD_TOUCH, exptime: 10, error: null });
  expect(parse('incr k -1\r\n').req.error).toBe('CLIENT_ERROR invalid numeric delta argument');
  expect(parse('incr k 18446744073709551615\r\n').req).toMatchObject({ cmd: CMD_INCR, delta: 18446744073709551615n });
  expect(parse('delete k 5\r\n').req.error).toBe(E_DELETE_USAGE);
  expect(parse('delete k 0 noreply\r\n').req).toMatchObject({ cmd: CMD_DELETE, error: null, noreply: true });
  expect(parse('gat x k\r\n').req.error).toBe(E_BAD_EXPTIME);
  expect(parse('gat 10 k\r\n').req).toMatchObject({ cmd: CMD_GAT, firstKey: 2, exptime: 10 });
  expect(parse('flush_all x\r\n').req).toMatchObject({ cmd: CMD_FLUSH_ALL, error: E_BAD_EXPTIME });
  expect(parse('flush_all noreply\r\n').req).toMatchObject({ error: null, noreply: true, exptime: 0 });
});

test('a line ending in HTTP/ outside the lettered branches is a web request; inside them, ERROR', () => {
  expect(parse('GET / HTTP/1.1\r\n').req.cmd).toBe(CMD_HTTP);
  expect(parse('sget / HTTP/1.1\r\n').req).toMatchObject({ cmd: CMD_UNKNOWN, error: E_ERROR });
  expect(parse('stats\r\n').req.cmd).toBe(CMD_STATS);
});

test('meta flags: parsed once, duplicates and bad tokens rejected with memcached texts', () => {
  const mg = parse('mg k v t c O123 q T30\r\n').req;
  expect(mg).toMatchObject({ cmd: CMD_MG, error: null, noreply: true });
  expect(mg.meta).toMatchObject({ value: true, noReply: true, newTtl: true, exptime: 30, locked: true });
  expect(parse('mg k v v\r\n').req.error).toBe('CLIENT_ERROR duplicate flag');
  expect(parse('mg k Tx\r\n').req.error).toBe('CLIENT_ERROR bad token in command line format');
  expect(parse('md k Tx\r\n').req.error).toBe(E_BAD_FLAG);
  expect(parse('mg k !\r\n').req.error).toBe('CLIENT_ERROR invalid flag');
  expect(parse(`mg k ${'v '.repeat(19)}\r\n`).req.error).toBe(E_MG_OPTS_TOO_LONG);
  expect(parse(`md k ${'q '.repeat(19)}\r\n`).req.error).toBe(E_OPTS_TOO_LONG);
  expect(parse('ma k MX\r\n').req.error).toBe('CLIENT_ERROR invalid mode for ma M token');
  const long = parse(`md k q O${'x'.repeat(33)}\r\n`).req;
  expect([long.cmd, long.error, long.noreply]).toEqual([CMD_MD, E_OPAQUE_TOO_LONG, false]);
  expect(parse('ma k D5 J7 N0\r\n').req.meta).toMatchObject({ delta: 5n, initial: 7n, vivify: true });
  expect(parse('ma k q\r\n').req).toMatchObject({ cmd: CMD_MA, noreply: true });
});

test('a base64 key is decoded into the scratch buffer, and a bad one is an error', () => {
  const { req } = parse('mg Zm9v b v\r\n');
  expect(req.keyBuf.toString('latin1', req.keyStart, req.keyEnd)).toBe('foo');
  expect(req.meta.keyBinary).toBe(true);
  expect(parse('mg Zm9vY b\r\n').req.error).toBe('CLIENT_ERROR error decoding key');
  const me = parse('me Zm9v b\r\n').req;
  expect([me.cmd, me.keyBuf.toString('latin1', me.keyStart, me.keyEnd)]).toEqual([CMD_ME, 'foo']);
  expect(parse('me\r\n').req.error).toBe(E_BAD_FORMAT);
});

test('ms: errors after the length discard the data block, before it they do not', () => {
  const ok = parse('ms k 2 T9 F3 C8 I\r\n').req;
  expect(ok).toMatchObject({ cmd: CMD_MS, vlen: 2, exptime: 9, flags: 3, cas: 8, storeCmd: CMD_CAS, error: null });
  expect(parse('ms k 2 MA\r\n').req.storeCmd).toBe(CMD_APPEND);
  expect(parse('ms k\r\n').req).toMatchObject({ error: E_BAD_FORMAT, swallow: 0 });
  expect(parse('ms k x\r\n').req).toMatchObject({ error: E_BAD_FORMAT, swallow: 0 });
  expect(parse('ms k 5 MZ\r\n').req).toMatchObject({ error: 'CLIENT_ERROR invalid mode for ms M token', swallow: 7 });
  expect(parse('ms k 5 q q\r\n').req).toMatchObject({ error: 'CLIENT_ERROR duplicate flag', swallow: 7, noreply: false });
  expect(parse(`ms k 1 O${'x'.repeat(33)}\r\n`).req).toMatchObject({ error: E_OPAQUE_TOO_LONG, swallow: 3 });
  expect(parse('ms k 1 q\r\n').req).toMatchObject({ storeCmd: CMD_SET, noreply: true });
});

test('the request object is reused: parsing allocates nothing per request', () => {
  const p = new RequestParser();
  const buf = Buffer.from('set a 0 0 1\r\n', 'latin1');
  const r1 = p.parseLine(buf, 0, buf.length - 2);
  const r2 = p.parseLine(buf, 0, buf.length - 2);
  expect(r1).toBe(r2);
});

test('meta flags: one parser reused, a flag seen by an earlier command is no duplicate in the next', () => {
  const p = new RequestParser();
  const lines = ['mg k v t\r\n', 'mg k v t\r\n', 'md k q\r\n', 'mg k v v\r\n', 'mg k v\r\n', 'ms k 1 T0 T0\r\n', 'ms k 1 T0\r\n'];
  const errors = lines.map((line) => {
    const buf = Buffer.from(line, 'latin1');
    p.parse(buf, 0, buf.length, 1 << 20);
    return p.req.error;
  });
  expect(errors).toEqual([null, null, null, 'CLIENT_ERROR duplicate flag', null, 'CLIENT_ERROR duplicate flag', null]);
});
