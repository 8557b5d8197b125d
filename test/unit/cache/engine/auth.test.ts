// The server's -Y gate over a Session: the gate's replies for the lines it sees before a connection
// authenticates (the same bytes are compared with memcached over TCP in test/integration/server/security.test.ts).
import { describe, expect, it } from '@jest/globals';
import { AsciiAuth, AUTH_MAX_BLOCK, AuthTable, NREAD_AUTH } from '../../../../server/src/cache/engine/auth.js';
import { Session, WANT_COMMAND, WANT_NREAD, WANT_SWALLOW } from '../../../../server/src/cache/engine/session.js';
import { C, Counters, createCounterMemory } from '../../../../server/src/cache/metrics/counters.js';

function table(text: string): AuthTable {
  const t = AuthTable.parse(Buffer.from(text, 'latin1'));
  if (typeof t === 'string') throw new Error(t);
  return t;
}

describe('AsciiAuth', () => {
  const counters = new Counters(createCounterMemory(1), 0);
  const auth = new AsciiAuth(table('alice:secret\n'), counters);
  const reply = (s: Session): string => {
    const text = s.out.buf.subarray(0, s.out.pos).toString('latin1');
    s.out.pos = 0;
    return text;
  };
  const line = (s: Session, text: string): void => {
    const b = Buffer.from(text, 'latin1');
    auth.line(s, b, 0, b.length);
  };
  const block = (s: Session, text: string): void => {
    expect(s.want).toBe(WANT_NREAD);
    expect(s.nreadCmd).toBe(NREAD_AUTH);
    expect(s.nreadBytes).toBe(text.length);
    s.want = WANT_COMMAND;
    auth.complete(s, Buffer.from(text, 'latin1'), 0);
  };

  it('answers anything but a set with five tokens and a numeric length as unauthenticated', () => {
    const s = new Session();
    for (const l of ['get foo', 'mg foo v', 'quit', 'set a 0 0', 'set a 0 0 x', 'set a 0 0 -1', 'add a 0 0 5', '']) {
      line(s, l);
      expect(reply(s)).toBe('CLIENT_ERROR unauthenticated\r\n');
      expect(s.want).toBe(WANT_COMMAND);
    }
    expect(s.authenticated).toBe(false);
  });

  it('takes the credential from the set data block, whatever the key, flags, exptime and noreply', () => {
    const before = counters.row[C.auth_cmds];
    const s = new Session();
    line(s, 'set anykey 5 100 12 noreply');
    block(s, 'alice secret\r\n');
    expect(reply(s)).toBe('STORED\r\n');
    expect(s.authenticated).toBe(true);
    expect(counters.row[C.auth_cmds]).toBe(before + 1);
  });

  it('answers a wrong pair, a one-token block and a bad terminator as memcached does', () => {
    const errors = counters.row[C.auth_errors];
    const s = new Session();
    line(s, 'set a 0 0 11');
    block(s, 'alice wrong\r\n');
    expect(reply(s)).toBe('CLIENT_ERROR authentication failure\r\n');
    line(s, 'set a 0 0 7');
    block(s, 'bobXpw2\r\n');
    expect(reply(s)).toBe('CLIENT_ERROR bad authentication token format\r\n');
    line(s, 'set a 0 0 2');
    block(s, 'abcd');
    expect(reply(s)).toBe('CLIENT_ERROR bad command line termination\r\n');
    // Extra tokens after the password are ignored, as memcached's tokenizer leaves them.
    line(s, 'set a 0 0 20');
    block(s, 'alice  secret  extra\r\n');
    expect(reply(s)).toBe('STORED\r\n');
    expect(counters.row[C.auth_errors]).toBe(errors + 1);
  });

  it('skips a data block too large to be a credential instead of buffering it', () => {
    const s = new Session();
    line(s, `set a 0 0 ${AUTH_MAX_BLOCK}`);
    expect(reply(s)).toBe('CLIENT_ERROR authentication failure\r\n');
    expect(s.want).toBe(WANT_SWALLOW);
    expect(s.swallowBytes).toBe(AUTH_MAX_BLOCK + 2);
  });

  it('uses a replaced table for the next attempt', () => {
    const local = new AsciiAuth(table('alice:secret\n'), counters);
    local.table = table('alice:rotated\n');
    const s = new Session();
    const b = Buffer.from('set a 0 0 13', 'latin1');
    local.line(s, b, 0, b.length);
    s.want = WANT_COMMAND;
    local.complete(s, Buffer.from('alice rotated\r\n'), 0);
    expect(s.authenticated).toBe(true);
  });
});
