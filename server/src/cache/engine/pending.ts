/**
 * Replies whose value is read asynchronously (from the flash tier) into bytes reserved for it in the
 * session's OutBuf. The reply keeps its place in the pipeline: the connection sends nothing until every
 * reserved value has landed; a failed read removes the whole reply and counts a miss.
 */
import { C } from '../metrics/counters.js';
import type { PendingRead, Session } from './session.js';

/**
 * Reserves valueLength bytes and the "\r\n" after them; the reply's header is already written from
 * replyStart. Returns the record to hand to landValue() when the read completes.
 */
export function reserveValue(s: Session, replyStart: number, valueLength: number): PendingRead {
  const out = s.out;
  out.ensure(valueLength + 2);
  const rec: PendingRead = { epoch: s.outEpoch, replyStart, valueStart: out.pos, valueLength, trailer: 2 };
  out.pos += valueLength;
  out.crlf();
  s.pendingReads.push(rec);
  return rec;
}

/**
 * The read for rec completed with value (null: failed). Patches the value into its place, or removes the
 * reply; counts get_hits or get_misses in `counters` (the thread's counter row). Nothing is written when
 * the session's queued replies were dropped since (outEpoch moved on). Tells the connection when the last
 * pending read has landed.
 */
export function landValue(s: Session, rec: PendingRead, value: Buffer | null, counters: Float64Array): void {
  const list = s.pendingReads;
  const i = list.indexOf(rec);
  if (i >= 0) list.splice(i, 1);
  if (rec.epoch === s.outEpoch) {
    const out = s.out;
    if (value !== null && value.length === rec.valueLength) {
      value.copy(out.buf, rec.valueStart);
      counters[C.get_hits]++;
    } else {
      // Remove the whole reply; later replies (and their reserved values) move up.
      const end = rec.valueStart + rec.valueLength + rec.trailer;
      const removed = end - rec.replyStart;
      out.buf.copy(out.buf, rec.replyStart, end, out.pos);
      out.pos -= removed;
      for (const other of list) {
        if (other.replyStart > rec.replyStart) {
          other.replyStart -= removed;
          other.valueStart -= removed;
        }
      }
      counters[C.get_misses]++;
    }
  }
  if (list.length === 0) s.onReadsDone?.();
}
