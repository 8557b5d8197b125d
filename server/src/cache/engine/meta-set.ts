/** ms, meta set: the line's checks are the parser's; the item is stored by storage.ts once its value arrives. */
import { E_TOO_LARGE } from '../../protocol/parser.js';
import type { Request } from '../../protocol/request.js';
import { C } from '../metrics/counters.js';
import type { EngineContext } from './context.js';
import { NREAD_CAS, WANT_NREAD, WANT_SWALLOW, type Session } from './session.js';
import { STORE_EXISTS, STORE_NOT_FOUND, STORE_NOT_STORED, STORE_STORED } from './storage.js';

/** ms: memcached's process_mset_command() after the parser's checks; the value arrives in completeNread (text.ts). */
export function metaSet(e: EngineContext, s: Session, req: Request): void {
  const t = e.t;
  const of = e.of;
  e.metaTimes();
  const vlen = req.vlen;
  s.resetStorage();
  // The return flags, in request order, for finalizeMetaSet (the parser checked the opaque's length).
  let stash = '';
  const last = t.count - 1;
  for (let i = 2; i < last; i++) {
    switch (t.buf[t.starts[i]]) {
      case 79:
        stash += ' ' + t.text(i);
        break;
      case 107:
        stash += ' k';
        break;
      case 99:
        stash += ' c';
        break;
    }
  }
  const comm = req.storeCmd;
  const keyLen = req.keyEnd - req.keyStart;
  if (!e.itemSizeOk(keyLen, of.clientFlags, vlen)) {
    e.counters.row[C.store_too_large]++;
    e.unlinkKey(req.keyBuf, req.keyStart, req.keyEnd);
    s.want = WANT_SWALLOW;
    s.swallowBytes = vlen + 2;
    e.outErr(s, E_TOO_LARGE);
    return;
  }
  req.keyBuf.copy(s.key, 0, req.keyStart, req.keyEnd);
  s.keyLen = keyLen;
  s.flags = of.clientFlags;
  s.exptime = of.exptime;
  s.cas = of.reqCas;
  s.meta = true;
  s.metaStash = stash;
  s.keyBinary = of.keyBinary;
  s.setStale = of.setStale && comm === NREAD_CAS;
  s.nreadCmd = comm;
  s.nreadBytes = vlen + 2;
  s.want = WANT_NREAD;
}

/** _finalize_mset(): status code, then the stashed O/k/c return flags in request order. */
export function finalizeMetaSet(e: EngineContext, s: Session, ret: number): void {
  const out = s.out;
  const mark = out.pos;
  switch (ret) {
    case STORE_STORED: out.ascii('HD'); break;
    case STORE_EXISTS: out.ascii('EX'); break;
    case STORE_NOT_FOUND: out.ascii('NF'); break;
    case STORE_NOT_STORED: out.ascii('NS'); break;
    default:
      s.noreply = false;
      e.outString(s, 'SERVER_ERROR out of memory storing object');
      return;
  }
  const stash = s.metaStash;
  let i = 0;
  while (i < stash.length) {
    // stash is " Oxxx k c" style: a space, then a token.
    let j = stash.indexOf(' ', i + 1);
    if (j < 0) j = stash.length;
    const tok = stash.slice(i + 1, j);
    if (tok === 'k') e.metaKey(s, s.key, 0, s.keyLen, s.keyBinary);
    else if (tok === 'c') {
      out.ascii(' c');
      out.uint(ret === STORE_STORED && typeof s.cas === 'number' ? s.cas : 0);
    } else {
      out.byte(32);
      out.ascii(tok);
    }
    i = j;
  }
  out.crlf();
  if (ret === STORE_STORED && s.noreply) out.pos = mark;
  s.noreply = false;
}
