/**
 * The server's `-Y` gate: memcached's ASCII authentication (protocol/asciiauth.ts, shared with the
 * sidecar's listener) over a connection's Session. The auth `set`'s data block is framed like any other
 * (WANT_NREAD with NREAD_AUTH), then checked here instead of stored.
 *
 * One difference, on purpose: memcached 1.6.18 reuses one response object for every pre-auth reply of a
 * read, so of several pipelined pre-auth requests arriving in one packet only the last reply is sent (which
 * depends on how TCP split the bytes). Here every request gets its reply.
 */
import { AUTH_NOT_A_SET, AUTH_STORED, AUTH_TOO_LARGE, AUTH_FAILURE, AUTH_UNAUTHENTICATED, AuthGate,
  type AuthTable } from '../../protocol/asciiauth.js';
import { C, type Counters } from '../metrics/counters.js';
import { Session, WANT_NREAD, WANT_SWALLOW } from './session.js';

export { AUTH_MAX_BLOCK, AUTH_MAX_ENTRIES, AUTH_MAX_LINE, AuthTable } from '../../protocol/asciiauth.js';

/** Session.nreadCmd of the auth `set`: its data block is a credential, never stored. */
export const NREAD_AUTH = 100;

/** The pre-authentication state machine of one worker; the table is replaced when the file is reloaded. */
export class AsciiAuth {
  private readonly gate: AuthGate;

  constructor(table: AuthTable, counters: Counters) {
    this.gate = new AuthGate(table, {
      attempt(failed) {
        counters.row[C.auth_cmds]++;
        if (failed) counters.row[C.auth_errors]++;
      },
    });
  }

  get table(): AuthTable {
    return this.gate.table;
  }

  set table(table: AuthTable) {
    this.gate.table = table;
  }

  /** A request line of a connection that has not authenticated yet. */
  line(s: Session, buf: Buffer, start: number, end: number): void {
    s.noreply = false;
    const got = this.gate.line(buf, start, end);
    if (got === AUTH_NOT_A_SET) {
      reply(s, AUTH_UNAUTHENTICATED);
    } else if (got === AUTH_TOO_LARGE) {
      reply(s, AUTH_FAILURE);
      s.want = WANT_SWALLOW;
      s.swallowBytes = this.gate.blockBytes;
    } else {
      s.nreadCmd = NREAD_AUTH;
      s.nreadBytes = got;
      s.want = WANT_NREAD;
    }
  }

  /** The auth `set`'s data block, buf[start, start + s.nreadBytes). */
  complete(s: Session, buf: Buffer, start: number): void {
    s.nreadCmd = 0;
    const answer = this.gate.block(buf, start, s.nreadBytes);
    if (answer === AUTH_STORED) s.authenticated = true;
    reply(s, answer);
  }
}

function reply(s: Session, text: string): void {
  s.out.ascii(text);
  s.out.crlf();
}
