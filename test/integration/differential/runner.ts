// Runs a script against one server and records each step's reply. Every step is followed by `mn\r\n`, and the
// reply is read until its `MN\r\n` (the way memcached clients delimit pipelined replies), end of stream, or a
// quiet period (the server is waiting for more bytes: the step left a command incomplete).
import { RawClient, type ReadEnd } from '../../support/rawclient.js';
import type { Script, Step } from './script.js';
import { lastCasIn } from './replies.js';

const SENTINEL = 'mn\r\n';
/** Upper bound for one step's replies, however steadily they trickle in (the largest is a few MiB). */
const STEP_DEADLINE_MS = 30_000;
/** How long a partial step waits for the server to answer or close before the script goes on. */
const PARTIAL_WAIT_MS = 500;

export type SendMode = 'whole' | 'pieces';

export interface StepResult {
  readonly sent: string;
  readonly reply: string;
  readonly end: ReadEnd | 'connect-failed' | 'slept';
}

export interface RunOptions {
  readonly mode: SendMode;
  /** Seed for the 1-to-3-byte piece sizes, identical for both servers so that they see the same splits. */
  readonly pieceSeed: number;
  /** How long a silent server is waited for before the step is declared incomplete. */
  readonly quietMs: number;
}

/**
 * Steps longer than 2 x PIECE_EDGE are split only in their first and last PIECE_EDGE bytes, the middle sent whole:
 * 1 MiB in 3-byte sends is too slow, and the middle of a long data block holds no boundary worth splitting at.
 */
const PIECE_EDGE = 1536;

/** A small deterministic PRNG (mulberry32): the same seed gives the same sequence on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A script's connections to one server (steps name theirs with `conn`, 0 by default), each opened on first use
 * and reopened after the server closes it. The last CAS value seen is shared by all of them.
 */
export class Session {
  private readonly clients = new Map<number, RawClient>();
  lastCas = '0';

  constructor(readonly port: number) {}

  async connection(conn = 0): Promise<RawClient | null> {
    const existing = this.clients.get(conn);
    if (existing && !existing.closed) return existing;
    this.drop(conn);
    try {
      const client = await RawClient.connect(this.port, 2_000);
      this.clients.set(conn, client);
      return client;
    } catch {
      return null;
    }
  }

  drop(conn = 0): void {
    this.clients.get(conn)?.close();
    this.clients.delete(conn);
  }

  close(): void {
    for (const conn of [...this.clients.keys()]) this.drop(conn);
  }
}

function expand(text: string, session: Session, clockOffset: number): string {
  return text.replace(/\{\{(cas|now([+-]\d+)?)\}\}/g, (_m, what: string, offset: string | undefined) => {
    if (what === 'cas') return session.lastCas;
    return String(Math.floor(Date.now() / 1000) + clockOffset + Number(offset ?? 0));
  });
}

/**
 * The server's own "now" (`STAT time`) minus the wall clock's, in seconds, asked on a connection of its own.
 * memcached's clock is a whole-second count that lags the wall clock by up to 2 s (started at a fractional
 * offset, ticked once a second), so `{{now+N}}` taken from the wall clock would read up to N+2 there; taken from
 * each server's own clock it reads N, within the one-second tolerance, on both.
 */
async function serverClockOffset(port: number): Promise<number> {
  const c = await RawClient.connect(port, 2_000);
  try {
    await c.send('stats\r\n');
    const { data } = await c.readUntil('END\r\n');
    const m = /^STAT time (\d+)\r$/m.exec(data.toString('latin1'));
    return m?.[1] ? Number(m[1]) - Math.floor(Date.now() / 1000) : 0;
  } finally {
    c.close();
  }
}

/** How many `MN\r\n` lines end this step's reply: the sentinel's plus one per `mn` command in the step. */
function expectedNoops(sent: string): number {
  const matches = sent.match(/(?<=^|\n)mn(?=\r?\n| )/g);
  return 1 + (matches ? matches.length : 0);
}

function countNoops(data: Buffer): number {
  let count = 0;
  let from = 0;
  for (;;) {
    const at = data.indexOf('MN\r\n', from, 'latin1');
    if (at < 0) return count;
    if (at === 0 || (data[at - 1] === 10 && data[at - 2] === 13)) count++;
    from = at + 4;
  }
}

async function sendStep(client: RawClient, bytes: string, mode: SendMode, nextPiece: () => number): Promise<void> {
  if (mode === 'whole') return client.send(bytes);
  if (bytes.length <= 2 * PIECE_EDGE) return client.sendInPieces(bytes, nextPiece);
  await client.sendInPieces(bytes.slice(0, PIECE_EDGE), nextPiece);
  await client.send(bytes.slice(PIECE_EDGE, bytes.length - PIECE_EDGE));
  await client.sendInPieces(bytes.slice(bytes.length - PIECE_EDGE), nextPiece);
}

export async function runSteps(session: Session, steps: readonly Step[], options: RunOptions): Promise<StepResult[]> {
  const random = prng(options.pieceSeed);
  const nextPiece = (): number => 1 + Math.floor(random() * 3);
  const results: StepResult[] = [];
  let markedAt = Date.now();
  let clockOffset: number | undefined;
  for (const step of steps) {
    if ('sleepMs' in step || 'atMs' in step) {
      const ms = 'sleepMs' in step ? step.sleepMs : markedAt + step.atMs - Date.now();
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      results.push({ sent: '', reply: '', end: 'slept' });
      continue;
    }
    if ('mark' in step) {
      markedAt = Date.now();
      results.push({ sent: '', reply: '', end: 'slept' });
      continue;
    }
    const conn = step.conn ?? 0;
    const client = await session.connection(conn);
    if (clockOffset === undefined && step.send.includes('{{now')) clockOffset = await serverClockOffset(session.port);
    const bytes = expand(step.send, session, clockOffset ?? 0);
    // The connection is named in what failure messages show as sent.
    const sent = (conn === 0 ? '' : `[conn ${conn}] `) + bytes;
    if (!client) {
      results.push({ sent, reply: '', end: 'connect-failed' });
      continue;
    }
    if ('partial' in step && step.partial) {
      await sendStep(client, bytes, options.mode, nextPiece);
      const { data, end } = await client.read(() => false, PARTIAL_WAIT_MS, PARTIAL_WAIT_MS);
      // Silence is the expected outcome here, however the wait happened to end.
      results.push({ sent, reply: data.toString('latin1'), end: end === 'deadline' ? 'quiet' : end });
      if (end === 'eof') session.drop(conn);
      continue;
    }
    const wanted = expectedNoops(bytes);
    await sendStep(client, bytes + SENTINEL, options.mode, nextPiece);
    const complete = (d: Buffer): boolean =>
      d.length >= 4 && d.subarray(d.length - 4).toString('latin1') === 'MN\r\n' && countNoops(d) >= wanted;
    const { data, end } = await client.read(complete, options.quietMs, STEP_DEADLINE_MS);
    const reply = data.toString('latin1');
    results.push({ sent, reply, end });
    session.lastCas = lastCasIn(reply) ?? session.lastCas;
    // An incomplete command swallowed the sentinel: the connection's state is unknown, start a new one.
    if (end !== 'terminator') session.drop(conn);
  }
  return results;
}
