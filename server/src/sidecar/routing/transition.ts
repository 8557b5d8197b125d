/**
 * Reads during a ring transition (docs/ring.md, "What the sidecar does during a transition"): a key that
 * misses at its owner and had another owner under `previous` is asked of that owner; a value found there is
 * stored at the new owner with `add` (so that a write that got there first wins) and the client's request is
 * then asked again of the new owner, whose answer the client gets. The client's reply therefore always comes
 * from the key's owner now: a `gets` CAS is valid there, a `gat` touched there, an `mg` returns the flags it
 * asked for as the owner holds them.
 *
 * Phases of one request (a Slot with a continuation, request.ts MERGE_WARM):
 *   1. the request at the owners (as outside a transition);
 *   2. `mg <key> v f t` at the previous owner, for each moved key that missed;
 *   3. for each value found: `add` (reply dropped), then the request again, for that key, at its owner.
 * A phase sends on the client's own connection to each server (its affinity), so phase 3's add and re-read
 * reach the owner behind every request the client sent before.
 *
 * Writes that race a fill: a write or delete of a key this sidecar is filling, dispatched before the fill's
 * `add` is sent, cancels the add (`FillRegistry.wrote`); the request is still asked again at the owner and
 * answers with what the write left there.
 */
import type { OutBuf } from '../../protocol/outbuf.js';
import { appendBytes } from '../copy.js';
import { clock } from '../eventclock.js';
import { blocksByKey } from '../merge.js';
import {
  DROP_ALL, END, REPLY_GET, REPLY_LINE, REPLY_META, REPLY_QUIET, Slot, type Part, type SlotContinuation,
} from '../request.js';
import type { SidecarStats } from '../sidecar-stats.js';
import type { Upstream } from '../upstream/upstream.js';

/**
 * Keys being filled at once, per sidecar. Beyond it a moved key that misses stays a miss: a scale-up's burst
 * of misses must not multiply the requests in flight to the servers without bound.
 */
export const FILL_MAX_IN_FLIGHT = 1024;
/** memcached's rule: an exptime above 30 days is an absolute Unix time. */
const RELATIVE_EXPTIME_MAX = 60 * 60 * 24 * 30;
const MG_FILL_FLAGS = ' v f t\r\n';

/** Which keys are being filled, so that a write can cancel a fill's `add` (see the header). */
export class FillRegistry {
  inFlight = 0;
  private readonly pending = new Map<string, number>();
  private readonly lastWrite = new Map<string, number>();
  private writes = 0;

  /** A fill of `key` starts: its epoch, or -1 when too many are in flight. */
  begin(key: string): number {
    if (this.inFlight >= FILL_MAX_IN_FLIGHT) return -1;
    this.inFlight++;
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
    return this.writes;
  }

  /** A fill ends; true when no write of its key was dispatched since it began. */
  end(key: string, epoch: number): boolean {
    this.inFlight--;
    const last = this.lastWrite.get(key) ?? -1;
    const n = (this.pending.get(key) ?? 1) - 1;
    if (n <= 0) {
      this.pending.delete(key);
      this.lastWrite.delete(key);
    } else this.pending.set(key, n);
    return last <= epoch;
  }

  /** A write, delete, touch or arithmetic of key[start, end) was dispatched. */
  wrote(key: Uint8Array, start: number, end: number): void {
    if (this.pending.size === 0) return;
    const k = Buffer.from(key.buffer, key.byteOffset + start, end - start).toString('latin1');
    if (this.pending.has(k)) this.lastWrite.set(k, ++this.writes);
  }
}

/** A value read from a previous owner by `mg <key> v f t`. */
interface Found {
  data: Buffer;
  flags: string;
  /** memcached exptime to store it with (0: never expires); -1 when it is about to expire (not stored). */
  exptime: number;
}

/** Parses an `mg ... v f t` reply: the value, or null for a miss or anything else. */
export function parseFound(reply: Buffer | null): Found | null {
  if (reply === null || reply[0] !== 86 || reply[1] !== 65) return null; // "VA"
  const nl = reply.indexOf(10);
  if (nl < 0) return null;
  const head = reply.toString('latin1', 0, nl - 1).split(' ');
  const len = Number(head[1]);
  if (!Number.isSafeInteger(len) || len < 0 || nl + 1 + len + 2 > reply.length) return null;
  let flags = '0';
  let ttl = -1;
  for (let i = 2; i < head.length; i++) {
    const tok = head[i]!;
    if (tok[0] === 'f') flags = tok.slice(1);
    else if (tok[0] === 't') ttl = Number(tok.slice(1));
  }
  if (!/^[0-9]+$/.test(flags) || !Number.isInteger(ttl)) return null;
  let exptime: number;
  if (ttl < 0) exptime = 0;
  else if (ttl === 0) exptime = -1;
  else if (ttl > RELATIVE_EXPTIME_MAX) exptime = Math.floor(Date.now() / 1000) + ttl;
  else exptime = ttl;
  return { data: reply.subarray(nl + 1, nl + 1 + len), flags, exptime };
}

function ask(u: Upstream, slot: Slot, kind: number, affinity: number): { part: Part; out: OutBuf } {
  const part = slot.addPart(kind);
  return { part, out: u.send(part, clock.now, affinity).out };
}

/** Sends a request nobody waits for (its reply is dropped), keeping its place on the client's connection. */
function askDropped(u: Upstream, affinity: number): OutBuf {
  const slot = new Slot(null);
  slot.drop = DROP_ALL;
  return u.send(slot.addPart(REPLY_LINE), clock.now, affinity).out;
}

/** A key's fill state: its previous owner and registry epoch while phase 2 may still ask it. */
interface KeyFill {
  name: string;
  epoch: number;
  previous: Upstream;
  owner: Upstream;
  asked: Part | null;
  again: Part | null;
}

/**
 * get, gets, gat, gats, bget: keys split by owner as outside a transition (slot.keyBytes, keyOffsets,
 * keyPart), each moved key with a KeyFill.
 */
export class FillGet implements SlotContinuation {
  private phase = 1;
  private first: Array<Buffer | null> | Buffer | null = null;

  constructor(
    private readonly registry: FillRegistry,
    private readonly stats: SidecarStats,
    private readonly affinity: number,
    /** The request's command and its exptime (gat, gats), as sent again at phase 3. */
    private readonly head: string,
    private readonly fills: Array<KeyFill | null>,
  ) {}

  /** A moved key's fill, registered; null when too many are in flight (the key then stays a miss). */
  static keyFill(registry: FillRegistry, name: string, owner: Upstream, previous: Upstream): KeyFill | null {
    const epoch = registry.begin(name);
    return epoch < 0 ? null : { name, epoch, previous, owner, asked: null, again: null };
  }

  next(slot: Slot): boolean {
    if (this.phase === 1) {
      this.phase = 2;
      // The owners' parts, in keyPart's numbering (a single part is not in slot.parts until another is added).
      const owners = slot.parts ?? [slot.single!];
      this.first = blocksByKey({ parts: owners, keyBytes: slot.keyBytes, keyOffsets: slot.keyOffsets, keyPart: slot.keyPart });
      const first = this.first;
      let asked = false;
      for (let k = 0; k < this.fills.length; k++) {
        const f = this.fills[k];
        if (!f) continue;
        if (!Array.isArray(first) || first[k] !== null || owners[slot.keyPart![k]!]!.reply === null) {
          // A hit, an error reply, or an owner that did not answer: nothing to fill.
          this.registry.end(f.name, f.epoch);
          this.fills[k] = null;
          continue;
        }
        this.stats.transition_fill_asks++;
        const { part, out } = ask(f.previous, slot, REPLY_META, this.affinity);
        f.asked = part;
        out.ascii('mg ');
        appendBytes(out, slot.keyBytes!, slot.keyOffsets![2 * k]!, slot.keyOffsets![2 * k + 1]!);
        out.ascii(MG_FILL_FLAGS);
        asked = true;
      }
      return asked;
    }
    if (this.phase === 2) {
      this.phase = 3;
      let again = false;
      for (let k = 0; k < this.fills.length; k++) {
        const f = this.fills[k];
        if (!f) continue;
        const found = parseFound(f.asked!.reply);
        const unwritten = this.registry.end(f.name, f.epoch);
        if (found === null) continue;
        this.stats.transition_fills++;
        const ks = slot.keyOffsets![2 * k]!;
        const ke = slot.keyOffsets![2 * k + 1]!;
        if (unwritten && found.exptime >= 0) {
          const out = askDropped(f.owner, this.affinity);
          out.ascii('add ');
          appendBytes(out, slot.keyBytes!, ks, ke);
          out.ascii(` ${found.flags} ${found.exptime} ${found.data.length}\r\n`);
          appendBytes(out, found.data, 0, found.data.length);
          out.crlf();
        }
        const { part, out } = ask(f.owner, slot, REPLY_GET, this.affinity);
        f.again = part;
        out.ascii(this.head);
        out.byte(32);
        appendBytes(out, slot.keyBytes!, ks, ke);
        out.crlf();
        again = true;
      }
      return again;
    }
    return false;
  }

  compose(slot: Slot): Buffer {
    const first = this.first;
    // Finished without phase 1's continuation (every part failed before it ran): nothing was found.
    if (first === null) return END;
    if (!Array.isArray(first)) return first;
    const out: Buffer[] = [];
    for (let k = 0; k < first.length; k++) {
      const hit = first[k];
      if (hit) {
        out.push(hit);
        continue;
      }
      const again = this.fills[k]?.again?.reply;
      // "VALUE ..." then END: the block without its END; an error line or a miss contributes nothing.
      if (again && again[0] === 86 && again.length > END.length) out.push(again.subarray(0, again.length - END.length));
    }
    out.push(END);
    return Buffer.concat(out);
  }
}

/**
 * mg: one key. `line` is a copy of the client's request line (without CRLF), `keyStart`/`keyEnd` its key
 * token as written (base64 when `binary`), sent again as it came at phase 3.
 */
export class FillMeta implements SlotContinuation {
  private phase = 1;
  private asked: Part | null = null;
  private again: Part | null = null;

  constructor(
    private readonly registry: FillRegistry,
    private readonly stats: SidecarStats,
    private readonly affinity: number,
    private readonly fill: KeyFill,
    private readonly line: Buffer,
    private readonly keyStart: number,
    private readonly keyEnd: number,
    private readonly binary: boolean,
    private readonly kind: number,
  ) {}

  next(slot: Slot): boolean {
    const f = this.fill;
    if (this.phase === 1) {
      this.phase = 2;
      const r = slot.single!.reply;
      // A miss is EN (or, quiet, nothing before the MN the sidecar added).
      const miss = r !== null && (this.kind === REPLY_QUIET ? r.length === 4 && r[0] === 77 : r[0] === 69 && r[1] === 78);
      if (!miss) {
        this.registry.end(f.name, f.epoch);
        return false;
      }
      this.stats.transition_fill_asks++;
      const { part, out } = ask(f.previous, slot, REPLY_META, this.affinity);
      this.asked = part;
      out.ascii('mg ');
      appendBytes(out, this.line, this.keyStart, this.keyEnd);
      if (this.binary) out.ascii(' b');
      out.ascii(MG_FILL_FLAGS);
      return true;
    }
    if (this.phase === 2) {
      this.phase = 3;
      const found = parseFound(this.asked!.reply);
      const unwritten = this.registry.end(f.name, f.epoch);
      if (found === null) return false;
      this.stats.transition_fills++;
      if (unwritten && found.exptime >= 0) {
        const out = askDropped(f.owner, this.affinity);
        out.ascii('ms ');
        appendBytes(out, this.line, this.keyStart, this.keyEnd);
        out.ascii(` ${found.data.length}${this.binary ? ' b' : ''} F${found.flags} T${found.exptime} ME\r\n`);
        appendBytes(out, found.data, 0, found.data.length);
        out.crlf();
      }
      const { part, out } = ask(f.owner, slot, this.kind, this.affinity);
      this.again = part;
      appendBytes(out, this.line, 0, this.line.length);
      out.crlf();
      if (this.kind === REPLY_QUIET) out.ascii('mn\r\n');
      return true;
    }
    return false;
  }

  compose(slot: Slot): Buffer | null {
    return slot.partReply(this.again ?? slot.parts?.[0] ?? slot.single!);
  }
}

export function keyName(key: Uint8Array, start: number, end: number): string {
  return Buffer.from(key.buffer, key.byteOffset + start, end - start).toString('latin1');
}
