/** ma, meta arithmetic: incr/decr with a CAS check, autovivification (N, J) and return flags. */
import { NO_ITEM } from '../store/types.js';
import { MFLAG_MAX_OPAQUE_LENGTH } from '../../protocol/limits.js';
import { E_OPAQUE_TOO_LONG } from '../../protocol/parser.js';
import type { Request } from '../../protocol/request.js';
import { C } from '../metrics/counters.js';
import { DELTA_CAS_MISMATCH, DELTA_EOM, DELTA_NON_NUMERIC, DELTA_NOT_FOUND, DELTA_OK, addDelta } from './arithmetic.js';
import type { EngineContext } from './context.js';
import type { Session } from './session.js';

/** ma: memcached's process_marithmetic_command() after the parser's checks. */
export function metaArithmetic(e: EngineContext, s: Session, req: Request): void {
  const t = e.t;
  const of = e.of;
  const out = s.out;
  e.metaTimes();
  // The parser accepts only I, +, D and - as modes.
  const incr = of.mode !== 68 && of.mode !== 45;
  const kb = req.keyBuf;
  const ks = req.keyStart;
  const ke = req.keyEnd;
  const store = e.store;
  const counters = e.counters.row;
  const mark = out.pos;
  const last = t.count - 1;
  let errstr = '';
  let skip = false;
  const h = store.hashKey(kb, ks, ke);
  store.lock(h);
  try {
    const r = addDelta(e, h, kb, ks, ke, incr, of.delta, of.reqCas);
    let ref = NO_ITEM;
    let created = false;
    let digits = '';
    switch (r.status) {
      case DELTA_OK:
        skip = s.noreply;
        ref = r.ref;
        digits = r.value;
        break;
      case DELTA_NON_NUMERIC:
        errstr = 'CLIENT_ERROR cannot increment or decrement non-numeric value';
        break;
      case DELTA_EOM:
        errstr = 'SERVER_ERROR out of memory';
        break;
      case DELTA_NOT_FOUND:
        if (of.vivify) {
          digits = of.initial.toString();
          const fresh = store.alloc(h, kb, ks, ke, 0, 0, digits.length, e.now);
          if (fresh === NO_ITEM) {
            errstr = 'SERVER_ERROR Out of memory allocating new item';
            break;
          }
          const view = store.valueView(fresh);
          for (let i = 0; i < digits.length; i++) view[i] = digits.charCodeAt(i);
          store.link(h, fresh, e.now);
          ref = fresh;
          created = true;
        } else {
          counters[incr ? C.incr_misses : C.decr_misses]++;
          out.ascii('NF');
        }
        break;
      case DELTA_CAS_MISMATCH:
        out.ascii('EX');
        break;
    }
    if (errstr === '') {
      if (ref !== NO_ITEM) {
        if (of.value) {
          out.ascii('VA ');
          out.uint(digits.length);
        } else out.ascii('HD');
        for (let i = 2; i < last && errstr === ''; i++) {
          switch (t.buf[t.starts[i]]) {
            case 99:
              out.ascii(' c');
              out.uint(store.itemCas(ref));
              break;
            case 116: {
              out.ascii(' t');
              const exp = store.itemExptime(ref);
              if (exp === 0) out.ascii('-1');
              else out.uint((exp - e.now) >>> 0);
              break;
            }
            case 84:
              store.setExptime(ref, of.exptime);
              break;
            case 78:
              if (created) store.setExptime(ref, of.autovivExptime);
              break;
            case 79:
              if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) errstr = E_OPAQUE_TOO_LONG;
              else {
                out.byte(32);
                out.bytes(t.buf, t.starts[i], t.ends[i]);
              }
              break;
            case 107:
              e.metaKey(s, kb, ks, ke, of.keyBinary);
              break;
          }
        }
        if (of.value && errstr === '') {
          out.crlf();
          out.ascii(digits);
        }
      } else if (!e.opaqueAndKey(s, kb, ks, ke)) {
        errstr = E_OPAQUE_TOO_LONG;
      }
    }
  } finally {
    store.unlock(h);
  }
  if (errstr !== '') {
    out.pos = mark;
    e.outErr(s, errstr);
    return;
  }
  out.crlf();
  if (skip) out.pos = mark;
  s.noreply = false;
}
