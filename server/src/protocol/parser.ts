/**
 * The one parser of the text and meta protocol, used by cachalot-server and cachalot-sidecar alike
 * (memcached's proto_parser.c process_request, Pelikan's parse returning {message, consumed}).
 *
 * parse() returns the offset just past the request line (what it consumed) or NEED_MORE, and leaves the
 * request in `req`: the command (commands.ts), offsets into the read buffer (nothing is copied), and the
 * numbers memcached checks before it reads a data block. A line memcached would answer without executing
 * it gets that answer, with memcached's exact text, in `req.error`, so both programs answer it
 * identically. What depends on a program's state (is the value too large for this server, is flush_all
 * enabled, which stats group) stays with the program.
 */
import { Tokens } from './tokenize.js';
import { parseI32, parseU32, parseU64, parseU64Big } from './numbers.js';
import { base64Decode } from './base64.js';
import { KEY_MAX_LENGTH, MFLAG_MAX_OPAQUE_LENGTH, MFLAG_MAX_OPT_LENGTH } from './limits.js';
import {
  CMD_ADD, CMD_APPEND, CMD_CAS, CMD_DECR, CMD_DELETE, CMD_FLUSH_ALL, CMD_GAT, CMD_GATS, CMD_HTTP, CMD_INCR, CMD_MA,
  CMD_MD, CMD_ME, CMD_MG, CMD_MS, CMD_PREPEND, CMD_REPLACE, CMD_SET, CMD_TOUCH, CMD_UNKNOWN, CMD_VERBOSITY,
  CMD_CACHE_MEMLIMIT, CMD_LRU, CMD_REFRESH_CERTS, CMD_SLABS, CMD_WATCH, lookupCommand,
} from './commands.js';
import { findLine, lineEndBefore } from './framing.js';
import { Request } from './request.js';

export { NEED_MORE, LINE_TOO_LONG } from './framing.js';

/** Largest value length memcached accepts on a storage line (INT_MAX minus the "\r\n"). */
export const INT_MAX_VLEN = 2147483647 - 2;

export const E_ERROR = 'ERROR';
export const E_BAD_FORMAT = 'CLIENT_ERROR bad command line format';
export const E_BAD_EXPTIME = 'CLIENT_ERROR invalid exptime argument';
export const E_BAD_DELTA = 'CLIENT_ERROR invalid numeric delta argument';
export const E_DELETE_USAGE = 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]';
export const E_OPTS_TOO_LONG = 'CLIENT_ERROR options flags too long';
/** mg's wording of the same error (proto_text.c process_mget_command). */
export const E_MG_OPTS_TOO_LONG = 'CLIENT_ERROR options flags are too long';
export const E_OPAQUE_TOO_LONG = 'CLIENT_ERROR opaque token too long';
export const E_BAD_FLAG = 'CLIENT_ERROR invalid or duplicate flag';
export const E_TOO_LARGE = 'SERVER_ERROR object too large for cache';

/** First bytes whose commands memcached dispatches in a branch of their own, ending in ERROR (never the HTTP check). */
function hasOwnBranch(first: number, len0: number): boolean {
  switch (first) {
    case 103: case 115: case 97: case 99: case 105: case 100: case 116: return true; // g s a c i d t
    case 109: return len0 === 2; // m: the meta commands
    default: return false;
  }
}

export class RequestParser {
  readonly tokens = new Tokens();
  readonly req = new Request();
  /**
   * Flags seen in the current meta command (duplicates are an error): seen[flag] === seenMark. Each meta
   * command takes a new mark instead of clearing the table (a fill() per mg was measurable on mg hits).
   */
  private readonly seen = new Uint32Array(128);
  private seenMark = 0;

  /**
   * Parses the request at buf[pos, end): returns the offset after its line (the data block of a storage
   * command, req.vlen + 2 bytes, starts there), NEED_MORE, or LINE_TOO_LONG (framing.ts).
   */
  parse(buf: Buffer, pos: number, end: number, maxGetLine: number): number {
    const nl = findLine(buf, pos, end, maxGetLine);
    if (nl < 0) return nl;
    this.parseLine(buf, pos, lineEndBefore(buf, pos, nl));
    return nl + 1;
  }

  /** Parses the request line buf[start, end) ("\r\n" already removed) into `req`. */
  parseLine(buf: Buffer, start: number, end: number): Request {
    const t = this.tokens;
    const req = this.req;
    const ntokens = t.tokenize(buf, start, end);
    req.lineStart = start;
    req.lineEnd = end;
    req.ntokens = ntokens;
    req.error = null;
    req.swallow = 0;
    req.noreply = false;
    req.vlen = -1;
    req.keyBuf = buf;
    req.keyStart = t.starts[1];
    req.keyEnd = t.ends[1];
    if (ntokens < 2 || t.length(0) < 2) return this.fail(CMD_UNKNOWN, E_ERROR);
    const spec = lookupCommand(buf, t.starts[0], t.ends[0]);
    if (spec === undefined) {
      if (!hasOwnBranch(buf[t.starts[0]], t.length(0)) && t.startsWith(ntokens - 2, 'HTTP/')) {
        req.cmd = CMD_HTTP;
        return req;
      }
      return this.fail(CMD_UNKNOWN, E_ERROR);
    }
    const cmd = spec.id;
    req.cmd = cmd;
    if (ntokens < spec.minTokens || ntokens > spec.maxTokens) return this.fail(cmd, E_ERROR);
    switch (cmd) {
      case CMD_SET: case CMD_ADD: case CMD_REPLACE: case CMD_APPEND: case CMD_PREPEND: case CMD_CAS:
        this.storage(buf, ntokens, cmd === CMD_CAS);
        break;
      case CMD_GAT: case CMD_GATS:
        req.firstKey = 2;
        req.exptime = parseI32(buf, t.starts[1], t.ends[1]);
        if (Number.isNaN(req.exptime)) req.error = E_BAD_EXPTIME;
        break;
      case CMD_TOUCH:
        this.noreplyMaybe(ntokens);
        if (t.length(1) > KEY_MAX_LENGTH) req.error = E_BAD_FORMAT;
        else {
          req.exptime = parseI32(buf, t.starts[2], t.ends[2]);
          if (Number.isNaN(req.exptime)) req.error = E_BAD_EXPTIME;
        }
        break;
      case CMD_INCR: case CMD_DECR:
        this.noreplyMaybe(ntokens);
        if (t.length(1) > KEY_MAX_LENGTH) req.error = E_BAD_FORMAT;
        else {
          req.delta = parseU64Big(buf, t.starts[2], t.ends[2]);
          if (req.delta < 0n) req.error = E_BAD_DELTA;
        }
        break;
      case CMD_DELETE:
        this.delete(ntokens);
        break;
      case CMD_FLUSH_ALL:
        // The exptime is checked after flush_all's -F switch: the server looks at req.error itself.
        this.noreplyMaybe(ntokens);
        req.exptime = 0;
        if (ntokens !== (req.noreply ? 3 : 2)) {
          req.exptime = parseI32(buf, t.starts[1], t.ends[1]);
          if (Number.isNaN(req.exptime)) req.error = E_BAD_EXPTIME;
        }
        break;
      case CMD_VERBOSITY:
        this.noreplyMaybe(ntokens);
        req.flags = parseU32(buf, t.starts[1], t.ends[1]);
        if (Number.isNaN(req.flags)) req.error = E_BAD_FORMAT;
        break;
      case CMD_CACHE_MEMLIMIT: case CMD_LRU: case CMD_WATCH: case CMD_REFRESH_CERTS:
        this.noreplyMaybe(ntokens);
        break;
      case CMD_SLABS:
        if (ntokens >= 4 && t.is(1, 'automove')) this.noreplyMaybe(ntokens);
        break;
      case CMD_MG: case CMD_MD: case CMD_MA:
        this.metaKeyed(buf, ntokens, cmd);
        break;
      case CMD_MS:
        this.metaSet(buf, ntokens);
        break;
      case CMD_ME:
        this.metaDebug(buf, ntokens);
        break;
      default:
        req.firstKey = 1;
    }
    return req;
  }

  private fail(cmd: number, error: string): Request {
    this.req.cmd = cmd;
    this.req.error = error;
    return this.req;
  }

  /** set_noreply_maybe(): a last token "noreply" silences the reply, errors included. */
  private noreplyMaybe(ntokens: number): void {
    if (this.tokens.is(ntokens - 2, 'noreply')) this.req.noreply = true;
  }

  /** process_update_command()'s checks, up to where it allocates the item. */
  private storage(buf: Buffer, ntokens: number, handleCas: boolean): void {
    const t = this.tokens;
    const req = this.req;
    this.noreplyMaybe(ntokens);
    if (t.length(1) > KEY_MAX_LENGTH) {
      req.error = E_BAD_FORMAT;
      return;
    }
    req.flags = parseU32(buf, t.starts[2], t.ends[2]);
    req.exptime = parseI32(buf, t.starts[3], t.ends[3]);
    const vlen = parseI32(buf, t.starts[4], t.ends[4]);
    if (Number.isNaN(req.flags) || Number.isNaN(req.exptime) || Number.isNaN(vlen)) {
      req.error = E_BAD_FORMAT;
      return;
    }
    req.cas = 0;
    if (handleCas) {
      req.cas = parseU64(buf, t.starts[5], t.ends[5]);
      if (typeof req.cas === 'number' && Number.isNaN(req.cas)) {
        req.error = E_BAD_FORMAT;
        return;
      }
    }
    if (vlen < 0 || vlen > INT_MAX_VLEN) {
      req.error = E_BAD_FORMAT;
      return;
    }
    req.vlen = vlen;
  }

  /** process_delete_command(): only "0" (a hold time of none) may stand before noreply. */
  private delete(ntokens: number): void {
    const t = this.tokens;
    const req = this.req;
    if (ntokens > 3) {
      const holdIsZero = t.is(2, '0');
      this.noreplyMaybe(ntokens);
      const ok = (ntokens === 4 && (holdIsZero || req.noreply)) || (ntokens === 5 && holdIsZero && req.noreply);
      if (!ok) {
        req.error = E_DELETE_USAGE;
        return;
      }
    }
    if (t.length(1) > KEY_MAX_LENGTH) req.error = E_BAD_FORMAT;
  }

  /** mg, md, ma: the checks they open with in proto_text.c (same order, same texts), then the flags. */
  private metaKeyed(buf: Buffer, ntokens: number, cmd: number): void {
    const t = this.tokens;
    const req = this.req;
    if (t.length(1) > KEY_MAX_LENGTH) {
      req.error = E_BAD_FORMAT;
      return;
    }
    if (ntokens > MFLAG_MAX_OPT_LENGTH) {
      req.error = cmd === CMD_MG ? E_MG_OPTS_TOO_LONG : E_OPTS_TOO_LONG;
      return;
    }
    const errstr = this.metaFlags(buf, 2);
    if (errstr !== null) {
      // md and ma report any flag error with one text; mg with the flag's own.
      req.error = cmd === CMD_MG ? errstr : E_BAD_FLAG;
      return;
    }
    const of = req.meta;
    if (cmd === CMD_MA) {
      switch (of.mode) {
        case 0: case 73: case 43: case 68: case 45: break; // I + D -
        default:
          req.error = 'CLIENT_ERROR invalid mode for ma M token';
          return;
      }
    } else if (cmd === CMD_MD && this.opaqueTooLong()) {
      req.error = E_OPAQUE_TOO_LONG;
      return;
    }
    // Quiet mode hides results, never errors (out_errstring).
    req.noreply = of.noReply;
  }

  /** ms: framed as process_mset_command() frames it; errors found after its length discard the data block. */
  private metaSet(buf: Buffer, ntokens: number): void {
    const t = this.tokens;
    const req = this.req;
    if (t.length(1) > KEY_MAX_LENGTH || ntokens === 3) {
      req.error = E_BAD_FORMAT;
      return;
    }
    if (ntokens > MFLAG_MAX_OPT_LENGTH) {
      req.error = E_OPTS_TOO_LONG;
      return;
    }
    const vlen = parseI32(buf, t.starts[2], t.ends[2]);
    if (Number.isNaN(vlen) || vlen < 0 || vlen > INT_MAX_VLEN) {
      req.error = E_BAD_FORMAT;
      return;
    }
    req.vlen = vlen;
    const errstr = this.metaFlags(buf, 3);
    if (errstr !== null) {
      req.error = errstr;
      req.swallow = vlen + 2;
      return;
    }
    const of = req.meta;
    let storeCmd = CMD_SET;
    switch (of.mode) {
      case 0: break;
      case 69: storeCmd = CMD_ADD; break; // E
      case 65: storeCmd = CMD_APPEND; break; // A
      case 80: storeCmd = CMD_PREPEND; break; // P
      case 82: storeCmd = CMD_REPLACE; break; // R
      case 83: storeCmd = CMD_SET; break; // S
      default:
        req.error = 'CLIENT_ERROR invalid mode for ms M token';
        req.swallow = vlen + 2;
        return;
    }
    if (of.hasCas && (storeCmd === CMD_SET || storeCmd === CMD_REPLACE)) storeCmd = CMD_CAS;
    req.storeCmd = storeCmd;
    if (this.opaqueTooLong()) {
      req.error = E_OPAQUE_TOO_LONG;
      req.swallow = vlen + 2;
      return;
    }
    req.noreply = of.noReply;
    req.flags = of.clientFlags;
    req.exptime = of.exptime;
    req.cas = of.reqCas;
  }

  /** me: memcached's debug command; token 2 exactly "b" says the key is base64. */
  private metaDebug(buf: Buffer, ntokens: number): void {
    const t = this.tokens;
    const req = this.req;
    if (ntokens < 3 || t.length(1) > KEY_MAX_LENGTH) {
      req.error = E_BAD_FORMAT;
      return;
    }
    req.meta.keyBinary = false;
    if (ntokens >= 4 && t.length(2) === 1 && buf[t.starts[2]] === 98) {
      const n = base64Decode(buf, t.starts[1], t.ends[1], req.keyScratch);
      if (n <= 0) {
        req.error = E_BAD_FORMAT;
        return;
      }
      req.keyBuf = req.keyScratch;
      req.keyStart = 0;
      req.keyEnd = n;
      req.meta.keyBinary = true;
    }
  }

  /** True when an O (opaque) token is longer than memcached allows. */
  private opaqueTooLong(): boolean {
    const t = this.tokens;
    const last = t.count - 1;
    for (let i = 2; i < last; i++) {
      if (t.buf[t.starts[i]] === 79 && t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) return true;
    }
    return false;
  }

  /**
   * _meta_flag_preparse(): reads the flags from token `from` into req.meta, rejecting duplicates, and
   * decodes a base64 key into req.keyScratch. Returns null, or the error text memcached gives.
   */
  private metaFlags(buf: Buffer, from: number): string | null {
    const t = this.tokens;
    const req = this.req;
    const of = req.meta;
    const seen = this.seen;
    let mark = this.seenMark + 1;
    if (mark > 0xffffffff) {
      seen.fill(0);
      mark = 1;
    }
    this.seenMark = mark;
    of.reset();
    let error: string | null = null;
    const last = t.count - 1;
    for (let i = from; i < last; i++) {
      const o = buf[t.starts[i]];
      const ts = t.starts[i] + 1;
      const te = t.ends[i];
      if (o >= 127 || seen[o] === mark) return 'CLIENT_ERROR duplicate flag';
      seen[o] = mark;
      switch (o) {
        case 98: { // b
          const n = base64Decode(buf, t.starts[1], t.ends[1], req.keyScratch);
          if (n < 0) error = 'CLIENT_ERROR error decoding key';
          else {
            req.keyBuf = req.keyScratch;
            req.keyStart = 0;
            req.keyEnd = n;
          }
          of.keyBinary = true;
          break;
        }
        case 78: { // N
          of.locked = true;
          of.vivify = true;
          const v = parseI32(buf, ts, te);
          if (Number.isNaN(v)) error = 'CLIENT_ERROR bad token in command line format';
          else of.autovivExptime = v;
          break;
        }
        case 84: { // T
          of.locked = true;
          const v = parseI32(buf, ts, te);
          if (Number.isNaN(v)) error = 'CLIENT_ERROR bad token in command line format';
          else {
            of.exptime = v;
            of.newTtl = true;
          }
          break;
        }
        case 82: { // R
          of.locked = true;
          const v = parseI32(buf, ts, te);
          if (Number.isNaN(v)) error = 'CLIENT_ERROR bad token in command line format';
          else {
            of.recacheTime = v;
            of.hasRecache = true;
          }
          break;
        }
        case 108: // l
          of.la = true;
          of.locked = true;
          break;
        case 79: case 80: case 76: // O P L
        case 107: case 115: case 116: case 99: case 102: // k s t c f
          break;
        case 118: // v
          of.value = true;
          break;
        case 104: // h
          of.locked = true;
          break;
        case 117: // u
          of.noUpdate = true;
          break;
        case 113: // q
          of.noReply = true;
          break;
        case 70: { // F
          const v = parseU32(buf, ts, te);
          if (Number.isNaN(v)) error = error ?? E_BAD_FORMAT;
          else of.clientFlags = v;
          break;
        }
        case 67: { // C
          const v = parseU64(buf, ts, te);
          if (typeof v === 'number' && Number.isNaN(v)) error = 'CLIENT_ERROR bad token in command line format';
          else {
            of.reqCas = v;
            of.hasCas = true;
          }
          break;
        }
        case 77: // M
          if (te - t.starts[i] !== 2) error = 'CLIENT_ERROR incorrect length for M token';
          else of.mode = buf[ts];
          break;
        case 74: { // J
          const v = parseU64Big(buf, ts, te);
          if (v < 0n) error = 'CLIENT_ERROR invalid numeric initial value';
          else of.initial = v;
          break;
        }
        case 68: { // D
          const v = parseU64Big(buf, ts, te);
          if (v < 0n) error = 'CLIENT_ERROR invalid numeric delta value';
          else of.delta = v;
          break;
        }
        case 73: // I
          of.setStale = true;
          break;
        default:
          return 'CLIENT_ERROR invalid flag';
      }
    }
    return error;
  }
}
