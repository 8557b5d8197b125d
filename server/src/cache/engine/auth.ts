/**
 * memcached's ASCII authentication (`-Y FILE`, proto_text.c try_read_command_asciiauth and authfile.c of
 * memcached 1.6.18). Until a connection authenticates, every request line goes here instead of the
 * command table:
 *
 *   set <any key> <any flags> <any exptime> <bytes>\r\n      (5 or more tokens, first "set", bytes numeric)
 *   <user> <password>\r\n                                     -> STORED, and the connection is authenticated
 *
 * Anything else gets `CLIENT_ERROR unauthenticated` (meta commands and `quit` included, as memcached); a
 * wrong pair `CLIENT_ERROR authentication failure`; a block without two tokens
 * `CLIENT_ERROR bad authentication token format`; a block not ending in \r\n
 * `CLIENT_ERROR bad command line termination`. A failed attempt costs nothing but the reply: the
 * connection stays open and may try again, as memcached's does.
 *
 * One difference, on purpose: memcached 1.6.18 reuses one response object for every pre-auth reply of a
 * read, so of several pipelined pre-auth requests arriving in one packet only the last reply is sent (which
 * depends on how TCP split the bytes). Here every request gets its reply.
 */
import { timingSafeEqual } from 'node:crypto';
import { Tokens } from '../../protocol/tokenize.js';
import { parseU32 } from '../../protocol/numbers.js';
import { C, type Counters } from '../metrics/counters.js';
import { Session, WANT_NREAD, WANT_SWALLOW } from './session.js';

/** memcached's authfile.c limits: lines of at most 255 bytes (fgets of MAX_ENTRY_LEN), 8 entries. */
export const AUTH_MAX_LINE = 255;
export const AUTH_MAX_ENTRIES = 8;
/**
 * The largest auth data block read into memory. A user:password line is at most 255 bytes; a larger
 * block cannot match and is discarded as it arrives (memcached waits for all of it in its read buffer),
 * so an unauthenticated client cannot make the server buffer a 4 GB "password".
 */
export const AUTH_MAX_BLOCK = 4096;
/** Session.nreadCmd of the auth `set`: its data block is a credential, never stored. */
export const NREAD_AUTH = 100;

/** The user:password entries of an auth file. */
export class AuthTable {
  private constructor(private readonly entries: ReadonlyArray<readonly [Buffer, Buffer]>) {}

  get size(): number {
    return this.entries.length;
  }

  /**
   * Parses the file's bytes as memcached's authfile_load does: one `user:password` per line, the user up to
   * the first ':', the password up to '\r' or the end of the line; a line without ':' (an empty one too)
   * makes the whole file malformed. Returns the table, or a message naming the line.
   */
  static parse(bytes: Buffer): AuthTable | string {
    const entries: Array<readonly [Buffer, Buffer]> = [];
    let pos = 0;
    let line = 0;
    while (pos < bytes.length) {
      line++;
      let nl = bytes.indexOf(10, pos);
      if (nl < 0) nl = bytes.length;
      if (nl - pos > AUTH_MAX_LINE) return `line ${line} is longer than ${AUTH_MAX_LINE} bytes`;
      const colon = bytes.indexOf(58, pos);
      if (colon < 0 || colon >= nl) return `line ${line} is malformed. Should be 'user:password'`;
      let passEnd = bytes.indexOf(13, colon + 1);
      if (passEnd < 0 || passEnd > nl) passEnd = nl;
      entries.push([Buffer.from(bytes.subarray(pos, colon)), Buffer.from(bytes.subarray(colon + 1, passEnd))]);
      pos = nl + 1;
    }
    if (entries.length > AUTH_MAX_ENTRIES) {
      // memcached keeps the first 8 and ignores the rest without a word; refusing says why a user is refused.
      return `has ${entries.length} entries; memcached's format holds at most ${AUTH_MAX_ENTRIES}`;
    }
    return new AuthTable(entries);
  }

  /** Whether user/password (each compared as a whole) is one of the entries. */
  check(buf: Uint8Array, userStart: number, userEnd: number, passStart: number, passEnd: number): boolean {
    const ulen = userEnd - userStart;
    const plen = passEnd - passStart;
    let ok = false;
    for (const [user, pass] of this.entries) {
      // Every entry is compared, and with a constant-time compare, so the reply time tells nothing.
      if (user.length === ulen && pass.length === plen &&
        timingSafeEqual(user, buf.subarray(userStart, userEnd)) &&
        timingSafeEqual(pass, buf.subarray(passStart, passEnd))) ok = true;
    }
    return ok;
  }
}

/** The pre-authentication state machine of one worker; the table is replaced when the file is reloaded. */
export class AsciiAuth {
  private readonly t = new Tokens();

  constructor(public table: AuthTable, private readonly counters: Counters) {}

  /** A request line of a connection that has not authenticated yet. */
  line(s: Session, buf: Buffer, start: number, end: number): void {
    const t = this.t;
    s.noreply = false;
    const ntokens = t.tokenize(buf, start, end);
    const size = ntokens >= 6 && t.is(0, 'set') ? parseU32(buf, t.starts[4], t.ends[4]) : NaN;
    if (Number.isNaN(size)) {
      reply(s, 'CLIENT_ERROR unauthenticated');
      return;
    }
    if (size + 2 > AUTH_MAX_BLOCK) {
      // Counted as a failed attempt; the block is skipped as it arrives.
      this.counters.row[C.auth_cmds]++;
      this.counters.row[C.auth_errors]++;
      reply(s, 'CLIENT_ERROR authentication failure');
      s.want = WANT_SWALLOW;
      s.swallowBytes = size + 2;
      return;
    }
    s.nreadCmd = NREAD_AUTH;
    s.nreadBytes = size + 2;
    s.want = WANT_NREAD;
  }

  /** The auth `set`'s data block, buf[start, start + s.nreadBytes). */
  complete(s: Session, buf: Buffer, start: number): void {
    const end = start + s.nreadBytes;
    s.nreadCmd = 0;
    if (s.nreadBytes < 2 || buf[end - 2] !== 13 || buf[end - 1] !== 10) {
      reply(s, 'CLIENT_ERROR bad command line termination');
      return;
    }
    const t = this.t;
    const ntokens = t.tokenize(buf, start, end - 2);
    if (ntokens < 3) {
      reply(s, 'CLIENT_ERROR bad authentication token format');
      return;
    }
    this.counters.row[C.auth_cmds]++;
    if (this.table.check(buf, t.starts[0], t.ends[0], t.starts[1], t.ends[1])) {
      s.authenticated = true;
      reply(s, 'STORED');
    } else {
      this.counters.row[C.auth_errors]++;
      reply(s, 'CLIENT_ERROR authentication failure');
    }
  }
}

function reply(s: Session, text: string): void {
  s.out.ascii(text);
  s.out.crlf();
}
