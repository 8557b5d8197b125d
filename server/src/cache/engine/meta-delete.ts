/** md, meta delete: removes the item, or with I marks it stale and puts its win token up for grabs. */
import { ITEM_STALE, ITEM_TOKEN_SENT, NO_ITEM } from '../store/types.js';
import { ON_FLASH } from '../store/tier.js';
import { E_OPAQUE_TOO_LONG } from '../../protocol/parser.js';
import type { Request } from '../../protocol/request.js';
import { C } from '../metrics/counters.js';
import type { EngineContext } from './context.js';
import type { Session } from './session.js';

/** md: memcached's process_mdelete_command() after the parser's checks. */
export function metaDelete(e: EngineContext, s: Session, req: Request): void {
  const t = e.t;
  const of = e.of;
  const out = s.out;
  e.metaTimes();
  const kb = req.keyBuf;
  const ks = req.keyStart;
  const ke = req.keyEnd;
  const mark = out.pos;
  out.ascii('XX'); // status code, filled in below
  if (!e.opaqueAndKey(s, kb, ks, ke)) {
    out.pos = mark;
    e.outErr(s, E_OPAQUE_TOO_LONG);
    return;
  }
  const store = e.store;
  const counters = e.counters.row;
  let code = 'NF';
  let skip = false;
  const h = store.hashKey(kb, ks, ke);
  store.lock(h);
  try {
    const ref = of.hasCas || of.setStale ? store.findLive(h, kb, ks, ke, e.now) : store.lookup(h, kb, ks, ke, e.now, e.loc);
    if (ref === ON_FLASH) {
      store.forget(h, kb, ks, ke);
      counters[C.delete_hits]++;
      skip = s.noreply;
      code = 'HD';
    } else if (ref !== NO_ITEM) {
      if (of.hasCas && store.itemCas(ref) !== of.reqCas) {
        counters[C.delete_misses]++;
        code = 'EX';
      } else if (of.setStale) {
        // Mark stale instead of removing: a new CAS, the stale bit, and the win token up for grabs.
        if (of.newTtl) store.setExptime(ref, of.exptime);
        store.setBits(ref, (store.itemBits(ref) | ITEM_STALE) & ~ITEM_TOKEN_SENT);
        store.renewCas(h, ref);
        skip = s.noreply;
        code = 'HD';
      } else {
        counters[C.delete_hits]++;
        store.unlink(h, ref);
        store.forget(h, kb, ks, ke);
        skip = s.noreply;
        code = 'HD';
      }
    } else {
      counters[C.delete_misses]++;
    }
  } finally {
    store.unlock(h);
  }
  out.buf[mark] = code.charCodeAt(0);
  out.buf[mark + 1] = code.charCodeAt(1);
  out.crlf();
  if (skip) out.pos = mark;
  s.noreply = false;
}
