// Splits a reply stream into lines and data blocks, and masks what legitimately differs between two servers
// that answer the same script: VERSION, the stats values listed below with their reasons (names and order
// kept), CAS values (compared by relation: each distinct value becomes a token in order of first appearance),
// slab class and item size in `me`, and TTL / last-access seconds (compared within one second: both servers
// tick their clock once a second).
import type { StepResult } from './runner.js';
import { escapeBytes } from './script.js';

export type Unit = { kind: 'line'; text: string } | { kind: 'data'; text: string } | { kind: 'partial'; text: string };

/**
 * Seconds two TTL or last-access readings may differ by. Both servers count whole seconds, each ticking at its
 * own phase: memcached's current_time is set by a once-a-second timer (so it lags the wall clock by up to 1 s),
 * cachalot's by a 100 ms one. Read at the same instant, two such clocks differ by at most one second, and a TTL
 * stored in the same instant reads the same or one apart. Two would let a TTL one second too long pass.
 */
export const TIME_TOLERANCE_S = 1;

const MESSAGE_LINE_MAX = 300;

/**
 * Values of bare `stats` that are masked, and why. Every other counter is compared exactly: each script starts
 * with `stats reset` + `flush_all`, and the counters move only when a command does.
 */
export const MASKED_STATS: ReadonlyMap<string, string> = new Map([
  ...['pid', 'uptime', 'time', 'version', 'libevent', 'rusage_user', 'rusage_system'].map((n) => [n, 'process, clock, program'] as const),
  ...['curr_connections', 'total_connections'].map((n) => [n, 'a connection the previous script closed counts until the server sees the close'] as const),
  ...['connection_structures', 'response_obj_count', 'response_obj_bytes', 'read_buf_count', 'read_buf_bytes', 'read_buf_bytes_free', 'reserved_fds']
    .map((n) => [n, "memcached's per-connection buffer pools; cachalot has none"] as const),
  ['threads', 'the runner starts memcached with -t 1 and cachalot with -t 2'],
  ['conn_yields', "memcached yields after reqs_per_event commands of one read; cachalot's worker batches differently"],
  ...['hash_power_level', 'hash_bytes'].map((n) => [n, 'hash table sizing'] as const),
  ...['slab_reassign_rescues', 'slab_reassign_chunk_rescues', 'slab_reassign_evictions_nomem', 'slab_reassign_inline_reclaim',
    'slab_reassign_busy_items', 'slab_reassign_busy_deletes', 'slab_reassign_running', 'slabs_moved', 'slab_global_page_pool']
    .map((n) => [n, "memcached's slab allocator and rebalancer; cachalot allocates segments"] as const),
  ...['lru_crawler_running', 'lru_crawler_starts', 'lru_maintainer_juggles', 'crawler_reclaimed', 'crawler_items_checked', 'lrutail_reflocked',
    'moves_to_cold', 'moves_to_warm', 'moves_within_lru', 'direct_reclaims', 'lru_bumps_dropped']
    .map((n) => [n, "memcached's background LRU maintainer and crawler run on their own schedule"] as const),
  // The crawler may reclaim an expired item before a command looks at it: then the command misses without
  // counting get_expired, and reclaimed / expired_unfetched move at the crawler's time, not the script's.
  ...['get_expired', 'get_flushed', 'reclaimed', 'expired_unfetched'].map((n) => [n, "memcached's LRU crawler reclaims expired items on its own schedule"] as const),
  ['bytes', "cachalot counts its own item layout (32-byte header), which its memory limit bounds, not memcached's ITEM_ntotal"],
  // Known limitation (README.md): flush_all hides items at once in both, but memcached's LRU maintainer also
  // unlinks them within about a second, while cachalot counts them until a read or its segment reclaims them.
  // Scripts on a fresh pair that never flush compare it exactly (Script.exactStats).
  ['curr_items', 'cachalot keeps counting items hidden by flush_all until they are read or reclaimed'],
  // Both count an incr/decr/ma that cannot rewrite in place as a new item, and memcached cannot when anything
  // else holds the item at that moment, its LRU crawler included: one more now and then. Scripts on a fresh
  // pair compare it exactly (Script.exactStats).
  ['total_items', "memcached's incr/decr/ma copy the item (one more) when its LRU crawler holds it at that moment"],
  ['bytes_read', 'a {{cas}} or {{now}} placeholder expands to a different number of digits per server'],
  ['bytes_written', 'replies hold values that are masked (CAS, stats), of different lengths'],
]);

/**
 * `stats settings` values that are masked, and why: each names a memcached mechanism cachalot does not have
 * (it accepts none of the flags that change them) or a difference in how the runner starts the two servers.
 * Every other setting is compared exactly, for every flag set a script group starts the servers with.
 */
export const MASKED_SETTINGS: ReadonlyMap<string, string> = new Map([
  ['tcpport', 'each server listens on its own port'],
  ...['num_threads', 'num_threads_per_udp'].map((n) => [n, 'the runner starts memcached with -t 1 and cachalot with -t 2'] as const),
  ['binding_protocol', 'cachalot speaks the text protocols only (-B ascii); memcached auto-negotiates binary too'],
  ...['slab_reassign', 'slab_automove', 'slab_chunk_max'].map((n) => [n, "memcached's slab allocator; cachalot allocates segments"] as const),
  ...['lru_crawler', 'lru_maintainer_thread', 'lru_segmented'].map((n) => [n, "memcached's LRU threads; cachalot evicts by segment"] as const),
  ['dump_enabled', "memcached's lru_crawler metadump, which cachalot does not implement"],
  ['oldest', "the last flush_all's time in seconds since each process started, and the two start at different moments"],
]);

export function parseReply(reply: string): Unit[] {
  const units: Unit[] = [];
  let pos = 0;
  while (pos < reply.length) {
    const eol = reply.indexOf('\r\n', pos);
    if (eol < 0) {
      units.push({ kind: 'partial', text: reply.slice(pos) });
      break;
    }
    const line = reply.slice(pos, eol);
    units.push({ kind: 'line', text: line });
    pos = eol + 2;
    const header = /^VALUE [^ ]+ \d+ (\d+)(?: \d+)?$/.exec(line) ?? /^VA (\d+)(?: |$)/.exec(line);
    if (header) {
      const size = Number(header[1]);
      if (pos + size + 2 <= reply.length && reply.startsWith('\r\n', pos + size)) {
        units.push({ kind: 'data', text: reply.slice(pos, pos + size) });
        pos += size + 2;
      } else {
        units.push({ kind: 'partial', text: reply.slice(pos) });
        break;
      }
    }
  }
  return units;
}

const META_STATUS = /^(VA \d+|HD|NF|NS|EX)(?= |$)/;

/** The last non-zero CAS value a reply carries (gets, meta `c` flag, `me` cas=), for the `{{cas}}` placeholder. */
export function lastCasIn(reply: string): string | null {
  let last: string | null = null;
  for (const unit of parseReply(reply)) {
    if (unit.kind !== 'line') continue;
    const value = /^VALUE [^ ]+ \d+ \d+ (\d+)$/.exec(unit.text);
    if (value) last = value[1] ?? last;
    else if (META_STATUS.test(unit.text)) {
      for (const token of unit.text.split(' ').slice(1)) if (/^c[1-9]\d*$/.test(token)) last = token.slice(1);
    } else if (unit.text.startsWith('ME ')) {
      const cas = / cas=(\d+)/.exec(unit.text);
      if (cas?.[1] && cas[1] !== '0') last = cas[1];
    }
  }
  return last;
}

/** Per-transcript masking state: CAS tokens are numbered across the whole script. */
export class Masker {
  private readonly cas = new Map<string, string>();

  constructor(private readonly exactStats: ReadonlySet<string> = new Set()) {}

  casToken(value: string): string {
    if (value === '0') return '0';
    let token = this.cas.get(value);
    if (!token) {
      token = `<cas#${this.cas.size + 1}>`;
      this.cas.set(value, token);
    }
    return token;
  }

  /** Masked text plus the TTL / last-access numbers that were masked, to be compared with a tolerance. */
  mask(reply: string): { text: string; times: number[] } {
    const times: number[] = [];
    const out: string[] = [];
    let statsSeen: Set<string> | null = null;
    let block: StatsBlock = 'other';
    const time = (flag: string, value: string): string => {
      times.push(Number(value));
      return `${flag}<secs>`;
    };
    for (const unit of parseReply(reply)) {
      if (unit.kind !== 'line') {
        // Escaped in full: the masked text is what is compared; only failure messages shorten it.
        out.push(`[${unit.kind} ${escapeBytes(unit.text, Number.POSITIVE_INFINITY)}]`);
        statsSeen = null;
        continue;
      }
      // Lines are escaped like data: keys may hold control bytes, and failure messages must show them.
      const line = escapeBytes(unit.text, Number.POSITIVE_INFINITY);
      if (line.startsWith('STAT ')) {
        // Which `stats` a block answers is told by its first line: bare stats opens with pid, settings with maxbytes.
        if (statsSeen === null) block = /^STAT pid /.test(line) ? 'general' : /^STAT maxbytes /.test(line) ? 'settings' : 'other';
        const masked = maskStat(line, block, this.exactStats);
        statsSeen ??= new Set();
        // Per-slab-class and per-connection lines collapse to one of each shape: the classes and connections
        // present are memcached allocator and socket details, the field names are the interface.
        if (!statsSeen.has(masked)) out.push(masked);
        statsSeen.add(masked);
        continue;
      }
      statsSeen = null;
      if (line.startsWith('VERSION ')) {
        out.push('VERSION <version>');
        continue;
      }
      const value = /^(VALUE [^ ]+ \d+ \d+) (\d+)$/.exec(line);
      if (value?.[1] && value[2]) {
        out.push(`${value[1]} ${this.casToken(value[2])}`);
        continue;
      }
      const meta = META_STATUS.exec(line);
      if (meta?.[1]) {
        const rest = line.slice(meta[1].length).split(' ').slice(1);
        const flags = rest.map((token) => {
          const m = /^([ctl])(\d+)$/.exec(token);
          if (!m?.[1] || !m[2]) return token;
          return m[1] === 'c' ? `c${this.casToken(m[2])}` : time(m[1], m[2]);
        });
        out.push([meta[1], ...flags].join(' '));
        continue;
      }
      if (line.startsWith('ME ')) {
        const [, key, ...pairs] = line.split(' ');
        const fields = pairs.map((pair) => {
          const eq = pair.indexOf('=');
          const name = pair.slice(0, eq);
          const v = pair.slice(eq + 1);
          if (eq < 0) return pair;
          if (name === 'cas') return `cas=${this.casToken(v)}`;
          if ((name === 'exp' && v !== '-1') || name === 'la') return `${name}=${time('', v)}`;
          // Slab class and memcached's in-memory item size are allocator details (see README.md).
          if (name === 'cls' || name === 'size') return `${name}=<${/^\d+$/.test(v) ? 'number' : v}>`;
          // memcached's incr/decr/ma copy the item, losing its fetched mark, whenever anything else holds a
          // reference at that moment, its LRU crawler included: fetch= after arithmetic is not deterministic.
          if (name === 'fetch') return `fetch=<${v === 'yes' || v === 'no' ? 'yes|no' : v}>`;
          return pair;
        });
        out.push(['ME', key, ...fields].join(' '));
        continue;
      }
      out.push(line);
    }
    return { text: out.join('\n'), times };
  }
}

type StatsBlock = 'general' | 'settings' | 'other';

function maskStat(line: string, block: StatsBlock, exact: ReadonlySet<string>): string {
  const perClass = /^STAT (items:)?\d+:(\S+)(?: .*)?$/.exec(line);
  if (perClass) return `STAT ${perClass[1] ?? ''}<n>:${perClass[2]} <value>`;
  const m = /^STAT (\S+)(?: (.*))?$/.exec(line);
  if (!m?.[1]) return line;
  if (block === 'general' && (!MASKED_STATS.has(m[1]) || exact.has(m[1]))) return line;
  if (block === 'settings' && !MASKED_SETTINGS.has(m[1])) return line;
  return `STAT ${m[1]} <value>`;
}

const END_NOTES: Record<StepResult['end'], string> = {
  terminator: '',
  slept: '',
  eof: '\n<server closed the connection>',
  quiet: '\n<no further reply: the server waits for more input>',
  deadline: '\n<reply still arriving after the deadline>',
  'connect-failed': '<could not connect>',
};

export interface MaskedStep {
  readonly sent: string;
  readonly text: string;
  readonly times: number[];
}

export function maskTranscript(steps: readonly StepResult[], exactStats: readonly string[] = []): MaskedStep[] {
  const masker = new Masker(new Set(exactStats));
  return steps.map((step) => {
    const { text, times } = masker.mask(step.reply);
    // A server that is going away (shutdown) may still accept and then close, or already refuse: to a client
    // both mean the same, and which one happens is a race inside memcached.
    if (step.reply === '' && (step.end === 'eof' || step.end === 'connect-failed')) {
      return { sent: step.sent, text: '<connection closed or refused before any reply>', times };
    }
    return { sent: step.sent, text: text + END_NOTES[step.end], times };
  });
}

/** null when the transcripts agree after masking, else a readable diff from the first differing step. */
export function compareTranscripts(
  expected: readonly StepResult[],
  actual: readonly StepResult[],
  names: { expected: string; actual: string } = { expected: 'memcached', actual: 'cachalot' },
  exactStats: readonly string[] = [],
): string | null {
  const a = maskTranscript(expected, exactStats);
  const b = maskTranscript(actual, exactStats);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    const same =
      x && y && x.text === y.text && x.times.length === y.times.length &&
      x.times.every((t, j) => Math.abs(t - (y.times[j] ?? Number.NaN)) <= TIME_TOLERANCE_S);
    if (same) continue;
    const lines = [`first difference at step ${i + 1} of ${a.length}`];
    for (let j = Math.max(0, i - 2); j < i; j++) lines.push(`  step ${j + 1} sent:\n${indent(escapeBytes(a[j]?.sent ?? ''), 4)}`);
    lines.push(`  step ${i + 1} sent:\n${indent(escapeBytes(x?.sent ?? y?.sent ?? ''), 4)}`);
    lines.push(`  ${names.expected} replied (masked):\n${indent(x?.text ?? '<nothing>', 4)}`);
    if (x?.times.length) lines.push(`    seconds: ${x.times.join(' ')}`);
    lines.push(`  ${names.actual} replied (masked):\n${indent(y?.text ?? '<nothing>', 4)}`);
    if (y?.times.length) lines.push(`    seconds: ${y.times.join(' ')}`);
    return lines.join('\n');
  }
  return null;
}

/** Indents a failure message's lines and shortens each to MESSAGE_LINE_MAX characters. */
function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => pad + (l.length > MESSAGE_LINE_MAX ? `${l.slice(0, MESSAGE_LINE_MAX)}…(${l.length} chars)` : l))
    .join('\n');
}
