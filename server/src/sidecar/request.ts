/**
 * A client request in flight: a Slot holds the client's place in its reply order; each Part is what one
 * upstream owes for it. A single-key command is one Slot with one Part; a multi-get split over three servers
 * is one Slot with three Parts, merged once all three answered. Replies leave a client strictly in Slot
 * order, whatever order the upstreams answer in.
 */
import { mergeMultiGet, mergeFanout } from './merge.js';

/** How an upstream's reply to a Part is framed. */
export const REPLY_LINE = 0; // one line (storage, delete, incr, touch, flush_all, version)
export const REPLY_GET = 1; // VALUE blocks until END (or an error line)
export const REPLY_META = 2; // one line, plus a data block when it starts with "VA "
/**
 * A quiet meta command (q flag) is forwarded as it is, followed by `mn`: its reply is at most one meta reply
 * and then MN, so the FIFO never has to guess whether a quiet command answered. Which outcomes quiet mode
 * hides differs by command and case (ma q shows an auto-created value but hides an increment), so the server
 * decides, not the sidecar; the MN is removed before the client sees the reply.
 */
export const REPLY_QUIET = 3;

/** Classic noreply: the upstream is asked without it and its reply dropped (memcached sends nothing at all). */
export const DROP_NONE = 0;
export const DROP_ALL = 1;

/** How a Slot turns its Parts' replies into one client reply. */
export const MERGE_SINGLE = 0;
export const MERGE_GET = 1;
export const MERGE_FANOUT = 2;
/**
 * A write during a ring transition: its first part is the command at the key's owner, the second the delete
 * of the key at its previous owner. The client gets the first part's reply once both have answered
 * (routing/transition.ts).
 */
export const MERGE_FIRST = 3;
/** A read during a ring transition whose misses may be filled from previous owners (routing/transition.ts). */
export const MERGE_WARM = 4;

/**
 * A slot that continues after its parts have answered: `next()` may add parts (and returns true, the slot
 * then waits for them) or return false (the slot finishes); `compose()` makes the client's reply.
 */
export interface SlotContinuation {
  next(slot: Slot): boolean;
  compose(slot: Slot): Buffer | null;
}

export interface SlotOwner {
  slotDone(slot: Slot): void;
  /**
   * A single-part slot's reply has arrived as buf[start, end) of a buffer reused after this call. The owner
   * takes the bytes and returns true (the slot is then finished): into its output when the slot is the next
   * one its client owes a reply, else into its own buffer of held replies until the slots ahead are answered
   * (client.ts). `withEnd`: "END\r\n" follows the bytes (one VALUE block of a coalesced get). False leaves the
   * reply to the slot, which keeps a copy.
   */
  takeReply?(slot: Slot, buf: Buffer, start: number, end: number, withEnd: boolean): boolean;
}

export const FAIL_EJECTED = 'SERVER_ERROR upstream unavailable\r\n';
export const FAIL_TIMEOUT = 'SERVER_ERROR upstream timeout\r\n';
export const FAIL_CONNECTION = 'SERVER_ERROR upstream connection failed\r\n';
export const FAIL_PROTOCOL = 'SERVER_ERROR upstream protocol error\r\n';

/** memcached's end of a get reply. */
export const END = Buffer.from('END\r\n');

export class Part {
  /** Reply bytes, once complete (a view of the upstream's read chunk, or a copy). */
  reply: Buffer | null = null;
  /** Set instead of reply when the upstream could not answer. */
  failure = '';
  /** Absolute ms (performance.now(), clock.ts) after which the client is answered without this upstream. */
  deadline = 0;
  /** performance.now() when the request was read (clock.ts), for the latency histogram. */
  started = 0;
  /** REPLY_GET, REPLY_QUIET: how far into this reply the framing scan got (it resumes there when more arrives). */
  scanned = 0;
  /**
   * Coalesced single-key gets (upstream-conn.ts): the group's next request (the first one is the queued part),
   * this request's key at [keyStart, keyEnd) of the group's line, and on the first part a copy of that line.
   */
  next: Part | null = null;
  keyStart = 0;
  keyEnd = 0;
  groupLine: Buffer | null = null;

  constructor(readonly slot: Slot, readonly kind: number) {}

  complete(reply: Buffer): void {
    this.reply = reply;
    this.slot.partDone();
  }

  /**
   * Completes from an upstream's read buffer (reused after this returns). A single-part reply that the client
   * can be sent as it is goes to the slot's owner (SlotOwner.takeReply: its output, or its held replies),
   * with no Buffer per reply; otherwise, or when the owner declines, the reply is copied out.
   */
  completeFrom(buf: Buffer, start: number, end: number, withEnd = false): void {
    const slot = this.slot;
    // MERGE_SINGLE and MERGE_GET only: the others compose their reply from several parts or phases.
    if (slot.single === this && slot.waiting === 1 && slot.drop === DROP_NONE && this.kind !== REPLY_QUIET
      && slot.merge < MERGE_FANOUT) {
      const owner = slot.owner;
      if (owner !== null && owner.takeReply !== undefined && owner.takeReply(slot, buf, start, end, withEnd)) return;
    }
    // allocUnsafe + copy: Buffer.from(buf.subarray()) made a view object first (bench/sidecar.mjs --micro).
    const n = end - start;
    const copy = Buffer.allocUnsafe(withEnd ? n + END.length : n);
    buf.copy(copy, 0, start, end);
    if (withEnd) END.copy(copy, n);
    this.complete(copy);
  }

  fail(failure: string): void {
    this.failure = failure;
    this.slot.partDone();
  }
}

export class Slot {
  /** Bytes to send the client, once done; null sends nothing. */
  out: Buffer | null = null;
  done = false;
  waiting = 0;
  drop = DROP_NONE;
  merge = MERGE_SINGLE;
  parts: Part[] | null = null;
  single: Part | null = null;
  /** mg: the miss reply (EN with O and k echoed; empty when quiet) used when the upstream cannot answer. */
  missReply: Buffer | null = null;
  /** mg q: a miss without its owner is silent. */
  quietMiss = false;
  /** MERGE_WARM: what happens once the parts asked so far have answered. */
  continuation: SlotContinuation | null = null;
  /** MERGE_GET: a copy of the request's key bytes and each key's [start, end) in it, and its part index. */
  keyBytes: Buffer | null = null;
  keyOffsets: Int32Array | null = null;
  keyPart: Int32Array | null = null;
  /** SlotOwner.takeReply: where the owner holds this slot's reply until it is written (heldEnd 0: not held). */
  heldStart = 0;
  heldEnd = 0;
  /** Set while queued on a client; cleared when the client goes away so late replies are discarded. */
  owner: SlotOwner | null;

  constructor(owner: SlotOwner | null) {
    this.owner = owner;
  }

  /** A slot answered without any upstream (version, mn, local errors). */
  static local(owner: SlotOwner, bytes: Buffer | null): Slot {
    const s = new Slot(owner);
    s.out = bytes;
    s.done = true;
    return s;
  }

  addPart(kind: number): Part {
    const p = new Part(this, kind);
    this.waiting++;
    if (this.single === null && this.parts === null) this.single = p;
    else {
      if (this.parts === null) {
        this.parts = [this.single!];
        this.single = null;
      }
      this.parts.push(p);
    }
    return p;
  }

  /**
   * The owner took the single part's reply itself (SlotOwner.takeReply): written already, or held in the
   * owner's buffer at [heldStart, heldEnd) (both 0 when written).
   */
  takenByOwner(heldStart: number, heldEnd: number): void {
    this.waiting = 0;
    this.done = true;
    this.out = null;
    this.heldStart = heldStart;
    this.heldEnd = heldEnd;
  }

  partDone(): void {
    if (--this.waiting > 0) return;
    if (this.continuation !== null && this.continuation.next(this)) return;
    this.finish();
  }

  /** Completes a slot whose parts are all answered (or that has none left to wait for). */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.out = this.compose();
    this.owner?.slotDone(this);
  }

  private compose(): Buffer | null {
    let out: Buffer | null;
    if (this.merge === MERGE_GET) out = this.parts === null ? this.singleGet() : mergeMultiGet(this);
    else if (this.merge === MERGE_FANOUT) out = mergeFanout(this.parts ?? (this.single ? [this.single] : []));
    else if (this.merge === MERGE_FIRST) out = this.partReply(this.parts![0]!);
    else if (this.merge === MERGE_WARM) out = this.continuation!.compose(this);
    else out = this.singleReply();
    return applyDrop(this.drop, out);
  }

  private singleGet(): Buffer {
    const p = this.single;
    if (p === null || p.reply === null) return END;
    return p.reply;
  }

  private singleReply(): Buffer | null {
    const p = this.single;
    if (p === null) return this.out;
    return this.partReply(p);
  }

  /** One part's reply as the client sees it: quiet mode's MN removed, a failure answered as memcached would. */
  partReply(p: Part): Buffer | null {
    if (p.reply !== null) {
      if (p.kind !== REPLY_QUIET) return p.reply;
      // Drop the trailing "MN\r\n" the sidecar added; nothing left means quiet mode hid the reply.
      return p.reply.length > 4 ? p.reply.subarray(0, p.reply.length - 4) : null;
    }
    if (this.quietMiss) return null;
    if (this.missReply !== null) return this.missReply;
    return Buffer.from(p.failure, 'latin1');
  }
}

function applyDrop(drop: number, out: Buffer | null): Buffer | null {
  return drop === DROP_ALL ? null : out;
}
