// Splits a reply stream into lines and data blocks, and masks what legitimately differs between two servers
// that answer the same script: VERSION, stats values (names and order kept), CAS values (compared by relation:
// each distinct value becomes a token in order of first appearance), slab class and item size in `me`, and
// TTL / last-access seconds (compared with a tolerance, since both servers tick their clock once a second).
import type { StepResult } from './runner.js';
import { escapeBytes } from './script.js';

export type Unit = { kind: 'line'; text: string } | { kind: 'data'; text: string } | { kind: 'partial'; text: string };

/** Seconds two TTL or last-access readings may differ by: each clock is a second-granular tick. */
export const TIME_TOLERANCE_S = 2;

const MESSAGE_LINE_MAX = 300;

/**
 * Counters of bare `stats` whose values are compared exactly: each script starts with `stats reset`, and these
 * move only when a command does. Everything else is masked: it depends on time, pid, memory layout, threads,
 * or bytes of earlier replies (which contain masked values). get_expired/get_flushed and curr_items are masked
 * too because memcached's background LRU crawler may reclaim an expired item before a command looks at it, and
 * total_items because memcached's incr/decr/ma rewrites an item in place only when no pending reply still holds
 * it: `mg a v` + `ma a` read together count a new item, sent apart they do not.
 */
export const EXACT_STATS = new Set([
  'cmd_get', 'cmd_set', 'cmd_flush', 'cmd_touch', 'get_hits', 'get_misses', 'delete_misses', 'delete_hits',
  'incr_misses', 'incr_hits', 'decr_misses', 'decr_hits', 'cas_misses', 'cas_hits', 'cas_badval', 'touch_hits',
  'touch_misses',
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
        const masked = maskStat(line);
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

function maskStat(line: string): string {
  const perClass = /^STAT (items:)?\d+:(\S+)(?: .*)?$/.exec(line);
  if (perClass) return `STAT ${perClass[1] ?? ''}<n>:${perClass[2]} <value>`;
  const m = /^STAT (\S+)(?: (.*))?$/.exec(line);
  if (!m?.[1]) return line;
  if (EXACT_STATS.has(m[1])) return line;
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

export function maskTranscript(steps: readonly StepResult[]): MaskedStep[] {
  const masker = new Masker();
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
): string | null {
  const a = maskTranscript(expected);
  const b = maskTranscript(actual);
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
