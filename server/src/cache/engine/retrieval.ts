/**
 * The retrieval commands: get, gets, gat, gats, bget (memcached's process_get_command), and the single-key
 * get without the tokenizer that the dispatch tries first.
 */
import { performance } from 'node:perf_hooks';
import { NO_ITEM } from '../store/types.js';
import { ON_FLASH } from '../store/tier.js';
import { KEY_MAX_LENGTH } from '../../protocol/limits.js';
import { E_BAD_FORMAT } from '../../protocol/parser.js';
import { C, L } from '../metrics/counters.js';
import { GET_YIELD_BYTES, type EngineContext } from './context.js';
import { WANT_GET_RESUME, type Session } from './session.js';

/**
 * get with one key, buf[ks, ke): what get() does for it, when the line has exactly one key of a valid
 * length and the answer is in RAM or a miss (not on flash). Returns false, having done nothing the
 * general path would not redo, for anything else.
 */
export function getOne(e: EngineContext, s: Session, buf: Buffer, ks: number, ke: number): boolean {
  if (e.prefixes.on[0] !== 0) return false; // stats detail on: the general path counts prefixes
  if (ke - ks > KEY_MAX_LENGTH) return false;
  for (let i = ks; i < ke; i++) {
    const c = buf[i];
    if (c === 32 || c === 0) return false;
  }
  const now = e.clock.now();
  e.now = now;
  const begun = performance.now();
  const store = e.store;
  const counters = e.counters.row;
  const h = store.hashKey(buf, ks, ke);
  store.lock(h);
  try {
    const ref = store.lookup(h, buf, ks, ke, now, e.loc);
    if (ref > 0) {
      e.writeValueReply(s, ref, buf, ks, ke, false);
      counters[C.get_hits]++;
    } else if (ref === ON_FLASH) {
      return false;
    } else counters[C.get_misses]++;
    counters[C.cmd_get]++;
  } finally {
    store.unlock(h);
  }
  s.lastCommandTime = now;
  s.noreply = false;
  s.out.ascii('END\r\n');
  e.counters.observe(L.get, (performance.now() - begun) * 1000);
  return true;
}

/**
 * get, gets, gat, gats, bget over the tokens of the line (e.t), from its first key or, resumed, from the
 * key where it yielded (GET_YIELD_BYTES).
 */
export function get(e: EngineContext, s: Session, returnCas: boolean, shouldTouch: boolean, resumed: boolean): void {
  const t = e.t;
  const store = e.store;
  const counters = e.counters.row;
  const out = s.out;
  let exptime = resumed ? s.getExptime : 0;
  let k = resumed ? 0 : 1;
  if (shouldTouch && !resumed) {
    // gat/gats: token 1 is the exptime, checked by the parser.
    exptime = e.clock.realtime(e.parser.req.exptime, e.now);
    k = 2;
  }
  const now = e.now;
  for (let guard = 0; guard < 1 << 20; guard++) {
    const last = t.count - 1;
    for (; k < last; k++) {
      const ks = t.starts[k];
      const ke = t.ends[k];
      if (ke - ks > KEY_MAX_LENGTH) {
        // memcached's conn_release_items() drops every reply still queued on the connection, not just
        // this command's: the ones produced earlier in the same read go too.
        out.reset();
        s.outEpoch++;
        e.outString(s, E_BAD_FORMAT);
        return;
      }
      const buf = t.buf;
      const h = store.hashKey(buf, ks, ke);
      store.lock(h);
      try {
        const ref = store.lookup(h, buf, ks, ke, now, e.loc);
        if (e.prefixes.on[0] !== 0) e.prefixes.recordGet(buf, ks, ke, ref > 0 || ref === ON_FLASH);
        if (ref > 0) {
          if (shouldTouch) store.setExptime(ref, exptime);
          e.writeValueReply(s, ref, buf, ks, ke, returnCas);
          if (shouldTouch) {
            counters[C.cmd_touch]++;
            counters[C.touch_hits]++;
          } else {
            counters[C.get_hits]++;
            counters[C.cmd_get]++;
          }
        } else if (shouldTouch) {
          const promoted = ref === ON_FLASH ? store.promote(h, buf, ks, ke, e.loc, now) : NO_ITEM;
          counters[C.cmd_touch]++;
          if (promoted !== NO_ITEM) {
            store.setExptime(promoted, exptime);
            e.writeValueReply(s, promoted, buf, ks, ke, returnCas);
            counters[C.touch_hits]++;
          } else counters[C.touch_misses]++;
        } else if (ref === ON_FLASH) {
          counters[C.cmd_get]++;
          const hit = e.loc;
          const replyStart = out.pos;
          out.ascii('VALUE ');
          out.bytes(buf, ks, ke);
          out.byte(32);
          out.uint(hit.flags);
          out.byte(32);
          out.uint(hit.valueLength);
          if (returnCas) {
            out.byte(32);
            out.uint(hit.cas);
          }
          out.crlf();
          e.readFromFlash(s, h, buf, ks, ke, replyStart, true);
        } else {
          counters[C.get_misses]++;
          counters[C.cmd_get]++;
        }
      } finally {
        store.unlock(h);
      }
      if (out.pos + out.refBytes >= GET_YIELD_BYTES && (k + 1 < last || t.rest >= 0)) {
        s.getResumeOffset = (k + 1 < last ? t.starts[k + 1] : t.rest) - e.lineStart;
        s.getReturnCas = returnCas;
        s.getTouch = shouldTouch;
        s.getExptime = exptime;
        s.want = WANT_GET_RESUME;
        return;
      }
    }
    if (t.rest < 0) break;
    // More than 23 keys: memcached tokenizes the rest of the line and carries on.
    t.tokenize(t.buf, t.rest, e.lineEnd);
    k = 0;
  }
  out.ascii('END\r\n');
}
