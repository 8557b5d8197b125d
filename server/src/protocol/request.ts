import { KEY_MAX_LENGTH } from './limits.js';
import { CMD_UNKNOWN } from './commands.js';

/**
 * Meta flags as the parser found them (memcached's struct _meta_flags). Times are the numbers as sent:
 * the server turns them into its clock's seconds (realtime()), the sidecar forwards them as they are.
 */
export class MetaFlags {
  noUpdate = false;
  /** A flag that changes the item (T N R l h): the item must be in RAM, not only on flash. */
  locked = false;
  vivify = false;
  la = false;
  value = false;
  setStale = false;
  noReply = false;
  hasCas = false;
  /** T seen: `exptime` holds its value. */
  newTtl = false;
  /** R seen: `recacheTime` holds its value. */
  hasRecache = false;
  keyBinary = false;
  /** The M token's mode byte, 0 without one. */
  mode = 0;
  exptime = 0;
  autovivExptime = 0;
  recacheTime = 0;
  clientFlags = 0;
  reqCas: number | bigint = 0;
  delta = 1n;
  initial = 0n;

  reset(): void {
    this.noUpdate = this.locked = this.vivify = this.la = this.value = false;
    this.setStale = this.noReply = this.hasCas = this.newTtl = this.hasRecache = this.keyBinary = false;
    this.mode = this.exptime = this.autovivExptime = this.recacheTime = this.clientFlags = 0;
    this.reqCas = 0;
    this.delta = 1n;
    this.initial = 0n;
  }
}

/**
 * One parsed request line: offsets into the read buffer it came from, valid until that buffer is reused,
 * and the numbers checked as far as memcached checks them before it reads a data block. One object per
 * parser, overwritten by every parse: nothing is allocated per request.
 */
export class Request {
  /** CMD_* from commands.ts. */
  cmd = CMD_UNKNOWN;
  /** The reply memcached gives to this line without executing it, or null when it is to be executed. */
  error: string | null = null;
  /** After `error`: bytes of the data block that follows, to be discarded (ms answers before its value). */
  swallow = 0;
  /** The reply is suppressed: classic "noreply" as its last token, or meta q. Errors of meta commands are sent anyway. */
  noreply = false;
  lineStart = 0;
  lineEnd = 0;
  /** memcached's ntokens (the terminal token included). */
  ntokens = 0;
  /** The key: buf[keyStart, keyEnd) of the request line, or of the parser's scratch when it came in base64. */
  keyBuf: Buffer = Buffer.alloc(0);
  keyStart = 0;
  keyEnd = 0;
  /**
   * Storage commands: client flags (verbosity: its level), exptime as sent (also touch's, gat's and
   * flush_all's), value length; vlen is -1 when no data block follows.
   */
  flags = 0;
  exptime = 0;
  vlen = -1;
  /** cas's unique (and ms C's). */
  cas: number | bigint = 0;
  /** ms: the storage command its M flag (and C) make of it, CMD_SET..CMD_CAS. */
  storeCmd = 0;
  /** incr/decr: the delta. */
  delta = 0n;
  /** get/gets/bget: 1; gat/gats: 2 (token 1 is the exptime). */
  firstKey = 1;
  readonly meta = new MetaFlags();
  /** A base64 key decodes into here (memcached decodes in place). */
  readonly keyScratch = Buffer.alloc(KEY_MAX_LENGTH + 8);
}
