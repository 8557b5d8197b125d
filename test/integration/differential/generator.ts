// Seeded random scripts. A small key space makes commands interact (a set followed by an incr, a cas with the
// CAS value that a previous reply carried, an append to a vivified item), and a share of every step is invalid
// input. The same seed always gives the same script, so a failure report's seed reproduces it.
//
// Short TTLs are in: 3 s, which lives more than 2 s on any whole-second clock, longer than a random script
// runs, so the item is there for the whole script on both servers and its TTL readings (`mg t`, `me exp=`)
// are compared. Out of scope on purpose, because memcached's own answer would then depend on the wall clock or
// on how the kernel splits reads: TTLs that fall due during a script (hand-scripts.ts probes those boundaries
// with timed steps), delayed flushes, lines close to 2048 bytes, and data blocks shorter than announced (the
// server would wait for the rest).
import { prng } from './runner.js';
import { on, script, type Script } from './script.js';

export const RANDOM_SCRIPT_COUNT = 2000;
export const RANDOM_BATCH = 100;

const MAX_U64 = '18446744073709551615';
const KEYS = ['a', 'b', 'c', 'num'];
const LONG_KEY = 'k'.repeat(250);
const BAD_KEYS = ['k'.repeat(251), 'a\x01b'];
/** Well inside memcached's 16 KiB read buffer, so that a step sent whole arrives in one read. */
const MAX_STEP_BYTES = 8000;
const TOO_LONG_KEY_RETRIEVAL = /^(get|gets|gat|gats) .*k{251}/;
const ARITHMETIC = /^(incr|decr|ma) /;
const EXPTIMES = ['0', '0', '0', '-1', '3', '100', '1000', '2592000', '2592001', '{{now+1000}}', '{{now-1000}}', 'x'];
const FLAGS = ['0', '0', '1', '42', '4294967295', '4294967296', '-1', 'x'];
const DELTAS = ['1', '1', '5', '0', '100', MAX_U64, '18446744073709551616', 'x', '-1', '12345678901234567890123'];
const TTL_TOKENS = ['0', '-1', '3', '30', '100', '1000', '{{now+500}}', 'x', ''];
/** R (recache if the TTL left is below) stays far from every TTL above: a tick of the clock must not flip it. */
const RECACHE_TOKENS = ['-1', '10', '60', '300', '2000', 'x', ''];
const UNKNOWN = ['foo', 'GET a', 'sett a 0 0 1', '', '  ', 'm', 'mz a', 'gett a', 'stats nosuch', 'verbosity x'];
/** Value bytes: no 'M' or 'N' so that no data block can fake the `MN` sentinel, digits so that incr applies. */
const VALUE_CHARS = '0123456789012345678901234567890123456789abcxyz \x00\x01\xff';

interface Gen {
  rnd(): number;
  int(n: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

function makeGen(seed: number): Gen {
  const rnd = prng(seed * 7919 + 17);
  const gen: Gen = {
    rnd,
    int: (n) => Math.floor(rnd() * n),
    pick: (items) => items[Math.floor(rnd() * items.length)] as (typeof items)[number],
    chance: (p) => rnd() < p,
  };
  return gen;
}

function value(g: Gen): string {
  if (g.chance(0.25)) return String(g.int(1000));
  if (g.chance(0.05)) return MAX_U64;
  return chars(g, g.chance(0.03) ? 500 + g.int(1400) : g.int(12));
}

function chars(g: Gen, length: number): string {
  let v = '';
  for (let i = 0; i < length; i++) v += VALUE_CHARS[g.int(VALUE_CHARS.length)];
  return v;
}

/** Mostly short keys; the 250-byte one is rarer, since every byte costs a send in the pieces run. */
function key(g: Gen): string {
  if (g.chance(0.03)) return g.pick(BAD_KEYS);
  if (g.chance(0.06)) return LONG_KEY;
  return g.pick(KEYS);
}

function noreply(g: Gen): string {
  return g.chance(0.2) ? ' noreply' : '';
}

/** A data block that matches its announced length, or (sometimes) is longer: `CLIENT_ERROR bad data chunk`. */
function dataBlock(g: Gen, v: string): string {
  return g.chance(0.05) ? `${v}${g.pick(['x', 'yz', '\n', 'abc'])}\r\n` : `${v}\r\n`;
}

function storage(g: Gen): string {
  const command = g.pick(['set', 'set', 'add', 'replace', 'append', 'prepend', 'cas']);
  const v = value(g);
  const cas = command === 'cas' ? ` ${g.chance(0.7) ? '{{cas}}' : g.pick(['1', '999999999', 'x'])}` : '';
  const length = g.chance(0.03) ? g.pick(['-1', 'x']) : String(v.length);
  const line = `${command} ${key(g)} ${g.pick(FLAGS)} ${g.pick(EXPTIMES)} ${length}${cas}${noreply(g)}\r\n`;
  if (length !== String(v.length)) return line;
  return line + dataBlock(g, v);
}

function retrieval(g: Gen): string {
  const keys = Array.from({ length: 1 + g.int(3) }, () => key(g)).join(' ');
  const command = g.pick(['get', 'get', 'gets', 'gat', 'gats']);
  if (command === 'gat' || command === 'gats') return `${command} ${g.pick(EXPTIMES)} ${keys}\r\n`;
  return `${command} ${keys}\r\n`;
}

function classicOther(g: Gen): string {
  switch (g.int(9)) {
    case 0:
      return `delete ${key(g)}${g.chance(0.1) ? ' 0' : ''}${noreply(g)}\r\n`;
    case 1:
    case 2:
      return `${g.pick(['incr', 'decr'])} ${key(g)} ${g.pick(DELTAS)}${noreply(g)}\r\n`;
    case 3:
      return `touch ${key(g)} ${g.pick(EXPTIMES)}${noreply(g)}\r\n`;
    case 4:
      // No delayed flush: it revives items that the script's reset flush hid, unless memcached's LRU
      // maintainer has already reclaimed them, which it does in the background (see README.md).
      return `flush_all${g.pick(['', '', ' 0', ' -1', ' x'])}${noreply(g)}\r\n`;
    case 5:
      return g.pick(['version\r\n', 'verbosity 0\r\n', 'verbosity\r\n', 'verbosity 0 noreply\r\n']);
    case 6:
      // No `stats items` or `stats slabs`: memcached's background LRU maintainer decides when flushed items leave them.
      return g.pick(['stats\r\n', 'stats settings\r\n', 'stats reset\r\n', 'stats conns\r\n']);
    case 7:
      return `${g.pick(UNKNOWN)}\r\n`;
    default:
      return 'mn\r\n';
  }
}

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

/** Shuffled subset of the candidate flags; sometimes a duplicate or an unknown flag. */
function metaFlags(g: Gen, candidates: readonly (() => string)[]): { flags: string[]; base64: boolean } {
  const flags: string[] = [];
  for (const make of candidates) if (g.chance(0.3)) flags.push(make());
  for (let i = flags.length - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [flags[i], flags[j]] = [flags[j] as string, flags[i] as string];
  }
  if (g.chance(0.03) && flags.length > 0) flags.push(flags[0] as string);
  // Unknown to memcached 1.6.18 (x, E, y, Z, !), ignored (P, L), or too long (O over 32 bytes).
  if (g.chance(0.04)) flags.push(g.pick(['!', 'y', 'Z', 'x', 'E5', 'P/x', 'Lfoo', 'O' + 'o'.repeat(40)]));
  const base64 = g.chance(0.08);
  if (base64) flags.push('b');
  return { flags, base64 };
}

function metaKey(g: Gen, base64: boolean): string {
  const k = key(g);
  if (!base64) return k;
  return g.chance(0.05) ? '!!!' : b64(k);
}

function meta(g: Gen): string {
  const opaque = (): string => `O${g.int(1000)}`;
  // Literal CAS values only at the ends of the range: with I (invalidate) the server compares CAS values by
  // age, and two servers number their CAS values differently.
  const cas = (): string => `C${g.chance(0.7) ? '{{cas}}' : g.pick(['0', MAX_U64, 'x'])}`;
  const ttl = (flag: string) => (): string => `${flag}${g.pick(TTL_TOKENS)}`;
  const plain = (flag: string) => (): string => flag;
  switch (g.int(6)) {
    case 0:
    case 1: {
      const { flags, base64 } = metaFlags(g, [
        plain('v'), plain('v'), plain('c'), plain('f'), plain('h'), plain('k'), plain('l'), opaque, plain('q'),
        plain('s'), plain('t'), plain('u'), ttl('N'), () => `R${g.pick(RECACHE_TOKENS)}`, ttl('T'),
      ]);
      return `mg ${metaKey(g, base64)}${flags.map((f) => ` ${f}`).join('')}\r\n`;
    }
    case 2: {
      const { flags, base64 } = metaFlags(g, [
        plain('c'), cas, () => `F${g.pick(FLAGS)}`, plain('I'), plain('k'), opaque, plain('q'), ttl('T'),
        () => `M${g.pick(['E', 'A', 'P', 'R', 'S', 'S', 'x', 'a', 'e'])}`,
      ]);
      const v = value(g);
      const length = g.chance(0.03) ? g.pick(['-1', 'x', '']) : String(v.length);
      const line = `ms ${metaKey(g, base64)}${length === '' ? '' : ` ${length}`}${flags.map((f) => ` ${f}`).join('')}\r\n`;
      return length === String(v.length) ? line + dataBlock(g, v) : line;
    }
    case 3: {
      const { flags, base64 } = metaFlags(g, [cas, plain('I'), plain('k'), opaque, plain('q'), ttl('T')]);
      return `md ${metaKey(g, base64)}${flags.map((f) => ` ${f}`).join('')}\r\n`;
    }
    case 4: {
      const { flags, base64 } = metaFlags(g, [
        cas, ttl('N'), () => `J${g.pick(['0', '10', MAX_U64, 'x'])}`, () => `D${g.pick(DELTAS)}`, ttl('T'),
        () => `M${g.pick(['I', 'D', '+', '-', 'i', 'x'])}`, plain('q'), plain('t'), plain('c'), plain('v'),
        plain('k'), opaque,
      ]);
      return `ma ${metaKey(g, base64)}${flags.map((f) => ` ${f}`).join('')}\r\n`;
    }
    default:
      return g.chance(0.85) ? `me ${key(g)}\r\n` : `me ${b64(key(g))} b\r\n`;
  }
}

/**
 * A value longer than a command line may be, under a command line that is valid: were the line rejected, the
 * server would read the value as a command line, and whether a line over 2048 bytes is answered or closes the
 * connection depends on how the bytes were split across reads, in memcached as anywhere.
 */
function bigStorage(g: Gen): string {
  const v = chars(g, 2100 + g.int(2000));
  const k = g.chance(0.1) ? LONG_KEY : g.pick(KEYS);
  if (g.chance(0.5)) return `${g.pick(['set', 'add', 'replace', 'append', 'prepend'])} ${k} ${g.pick(['0', '7'])} ${g.pick(['0', '1000'])} ${v.length}${noreply(g)}\r\n${v}\r\n`;
  return `ms ${k} ${v.length}${g.pick(['', ' T0', ' F3 c', ' MA', ' MP q', ' ME k'])}\r\n${v}\r\n`;
}

function command(g: Gen): string {
  const r = g.rnd();
  if (r < 0.02) return bigStorage(g);
  if (r < 0.3) return storage(g);
  if (r < 0.45) return retrieval(g);
  if (r < 0.6) return classicOther(g);
  if (r < 0.995) return meta(g);
  return 'quit\r\n';
}

export function generateScript(seed: number): Script {
  const g = makeGen(seed);
  const steps: string[] = [];
  const stepCount = 3 + g.int(10);
  for (let i = 0; i < stepCount; i++) {
    const commands = 1 + (g.chance(0.4) ? g.int(5) : 0);
    let step = '';
    for (let j = 0; j < commands && step.length < MAX_STEP_BYTES; j++) {
      const next = command(g);
      // memcached drops the replies still queued when `quit` arrives in the same read as their commands: which
      // ones that is depends on read timing, so `quit` is a step of its own.
      if (next === 'quit\r\n') {
        if (step !== '') steps.push(step);
        steps.push(next);
        step = '';
        continue;
      }
      // memcached 1.6.18 drops every reply queued before a get/gets/gat/gats whose key is too long, as far back as
      // the start of the read it came in: a read-timing artefact, so such a command starts a step of its own.
      // incr/decr/ma rewrite the item in place only when no reply still queued holds it; otherwise the copy loses
      // the item's fetched mark (`me` fetch=, `mg` h) and counts in total_items. So they start a step too, once
      // every earlier reply has been read.
      if (step !== '' && (TOO_LONG_KEY_RETRIEVAL.test(next) || ARITHMETIC.test(next))) {
        steps.push(step);
        step = '';
      }
      step += next;
    }
    if (step !== '') steps.push(step);
  }
  // Most steps on connection 0, the rest on 1 or 2: writes on one connection must be seen by the others.
  return script(`random seed ${seed}`, ...steps.map((send) => (g.chance(0.7) ? send : on(1 + g.int(2), send))));
}
