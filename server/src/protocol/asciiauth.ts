/**
 * memcached's ASCII authentication (`-Y FILE`, proto_text.c try_read_command_asciiauth and authfile.c of
 * memcached 1.6.18), for both programs: cachalot-server's `-Y` and cachalot-sidecar's `--listen-auth-file`.
 * Until a connection authenticates, every request line goes to the gate instead of the command table:
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
 * The gate keeps no connection state: each program's connection holds "authenticated" and the length of
 * the block it waits for, and frames the block its own way.
 */
import { timingSafeEqual } from 'node:crypto';
import { Tokens } from './tokenize.js';
import { parseU32 } from './numbers.js';

/** memcached's authfile.c limits: lines of at most 255 bytes (fgets of MAX_ENTRY_LEN), 8 entries. */
export const AUTH_MAX_LINE = 255;
export const AUTH_MAX_ENTRIES = 8;
/**
 * The largest auth data block read into memory. A user:password line is at most 255 bytes; a larger
 * block cannot match and is discarded as it arrives (memcached waits for all of it in its read buffer),
 * so an unauthenticated client cannot make a server buffer a 4 GB "password".
 */
export const AUTH_MAX_BLOCK = 4096;

export const AUTH_UNAUTHENTICATED = 'CLIENT_ERROR unauthenticated';
export const AUTH_FAILURE = 'CLIENT_ERROR authentication failure';
export const AUTH_BAD_FORMAT = 'CLIENT_ERROR bad authentication token format';
export const AUTH_BAD_TERMINATION = 'CLIENT_ERROR bad command line termination';
export const AUTH_STORED = 'STORED';

/** AuthGate.line(): not an auth `set` (reply AUTH_UNAUTHENTICATED). */
export const AUTH_NOT_A_SET = -1;
/** AuthGate.line(): a block too large to be a credential (reply AUTH_FAILURE, discard blockBytes). */
export const AUTH_TOO_LARGE = -2;

/** memcached's auth_cmds and auth_errors, wherever each program keeps them. */
export interface AuthCounts {
  /** An attempt was checked; `failed` when it was refused. */
  attempt(failed: boolean): void;
}

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

/** The pre-authentication rules over one table; the table is replaced when the file is reloaded. */
export class AuthGate {
  private readonly t = new Tokens();
  /** After line() returned AUTH_TOO_LARGE: the bytes of the block to discard (its length + 2). */
  blockBytes = 0;

  constructor(public table: AuthTable, private readonly counts: AuthCounts) {}

  /**
   * A request line buf[start, end) ("\r\n" removed) of a connection that has not authenticated: the bytes
   * of the data block to wait for (its length + 2), AUTH_NOT_A_SET or AUTH_TOO_LARGE.
   */
  line(buf: Buffer, start: number, end: number): number {
    const t = this.t;
    const ntokens = t.tokenize(buf, start, end);
    const size = ntokens >= 6 && t.is(0, 'set') ? parseU32(buf, t.starts[4], t.ends[4]) : NaN;
    if (Number.isNaN(size)) return AUTH_NOT_A_SET;
    if (size + 2 > AUTH_MAX_BLOCK) {
      // Counted as a failed attempt; the block is skipped as it arrives.
      this.counts.attempt(true);
      this.blockBytes = size + 2;
      return AUTH_TOO_LARGE;
    }
    return size + 2;
  }

  /**
   * The auth `set`'s whole data block buf[start, start + bytes): the reply line (without "\r\n");
   * AUTH_STORED means the connection is now authenticated.
   */
  block(buf: Buffer, start: number, bytes: number): string {
    const end = start + bytes;
    if (bytes < 2 || buf[end - 2] !== 13 || buf[end - 1] !== 10) return AUTH_BAD_TERMINATION;
    const t = this.t;
    const ntokens = t.tokenize(buf, start, end - 2);
    if (ntokens < 3) return AUTH_BAD_FORMAT;
    const ok = this.table.check(buf, t.starts[0], t.ends[0], t.starts[1], t.ends[1]);
    this.counts.attempt(!ok);
    return ok ? AUTH_STORED : AUTH_FAILURE;
  }
}
