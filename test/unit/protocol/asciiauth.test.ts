// The auth file's format as memcached 1.6.18's authfile.c reads it (shared by cachalot-server's -Y and the
// sidecar's --listen-auth-file), and the gate's answers without a connection around it.
import { describe, expect, it } from '@jest/globals';
import { AUTH_MAX_BLOCK, AUTH_NOT_A_SET, AUTH_TOO_LARGE, AuthGate, AuthTable } from '../../../server/src/protocol/asciiauth.js';

function table(text: string): AuthTable {
  const t = AuthTable.parse(Buffer.from(text, 'latin1'));
  if (typeof t === 'string') throw new Error(t);
  return t;
}

function checks(t: AuthTable, user: string, pass: string): boolean {
  const b = Buffer.from(`${user} ${pass}`, 'latin1');
  return t.check(b, 0, user.length, user.length + 1, b.length);
}

describe('AuthTable.parse', () => {
  it('reads user:password lines; the password ends at \\r or the end of the line', () => {
    const t = table('alice:secret\r\nbob:pw:with:colons\ncarol:last-no-newline');
    expect(t.size).toBe(3);
    expect(checks(t, 'alice', 'secret')).toBe(true);
    expect(checks(t, 'bob', 'pw:with:colons')).toBe(true);
    expect(checks(t, 'carol', 'last-no-newline')).toBe(true);
    expect(checks(t, 'alice', 'secre')).toBe(false);
    expect(checks(t, 'alic', 'secret')).toBe(false);
    expect(checks(t, 'bob', 'secret')).toBe(false);
  });

  it('takes an empty file (nobody can authenticate) and an empty password', () => {
    expect(table('').size).toBe(0);
    const t = table('dave:\n');
    expect(checks(t, 'dave', '')).toBe(true);
  });

  it('refuses a line without a colon, an empty line, a line over 255 bytes and more than 8 entries', () => {
    expect(AuthTable.parse(Buffer.from('alice:secret\nnocolon\n'))).toBe("line 2 is malformed. Should be 'user:password'");
    expect(AuthTable.parse(Buffer.from('alice:secret\n\nbob:x\n'))).toBe("line 2 is malformed. Should be 'user:password'");
    expect(AuthTable.parse(Buffer.from(`u:${'p'.repeat(254)}\n`))).toBe('line 1 is longer than 255 bytes');
    const nine = Array.from({ length: 9 }, (_, i) => `u${i}:p${i}`).join('\n');
    expect(AuthTable.parse(Buffer.from(nine))).toMatch(/^has 9 entries/);
    expect(typeof AuthTable.parse(Buffer.from(nine.split('\n').slice(0, 8).join('\n')))).toBe('object');
  });
});

describe('AuthGate', () => {
  const attempts: boolean[] = [];
  const gate = new AuthGate(table('alice:secret\n'), { attempt: (failed) => attempts.push(failed) });
  const line = (text: string): number => gate.line(Buffer.from(text, 'latin1'), 0, text.length);
  const block = (text: string): string => gate.block(Buffer.from(text, 'latin1'), 0, text.length);

  it('gives the block length of an auth set, and refuses anything else without counting it', () => {
    expect(line('set k 0 0 12')).toBe(14);
    expect(line('set k 0 0 12 noreply')).toBe(14);
    for (const l of ['get k', 'mg k v', 'set k 0 0', 'set k 0 0 -1', 'add k 0 0 5', '']) expect(line(l)).toBe(AUTH_NOT_A_SET);
    expect(attempts).toEqual([]);
  });

  it('counts a block too large to be a credential as a failed attempt, to be discarded', () => {
    expect(line(`set k 0 0 ${AUTH_MAX_BLOCK}`)).toBe(AUTH_TOO_LARGE);
    expect(gate.blockBytes).toBe(AUTH_MAX_BLOCK + 2);
    expect(attempts.splice(0)).toEqual([true]);
  });

  it('answers each block as memcached does and counts only checked pairs', () => {
    expect(block('alice secret\r\n')).toBe('STORED');
    expect(block('alice wrong\r\n')).toBe('CLIENT_ERROR authentication failure');
    expect(block('alicesecret\r\n')).toBe('CLIENT_ERROR bad authentication token format');
    expect(block('abcd')).toBe('CLIENT_ERROR bad command line termination');
    expect(attempts.splice(0)).toEqual([false, true]);
    gate.table = table('alice:rotated\n');
    expect(block('alice rotated\r\n')).toBe('STORED');
  });
});
