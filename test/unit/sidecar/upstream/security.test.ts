// The sidecar's upstream security: the flags and files it accepts, the auth `set` it sends, and how it reads
// the server's reply to it (split anywhere, refused, or not memcached's at all).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  AUTH_NEED_MORE, AUTH_REFUSED, checkUpstreamSecurity, consumeAuthReply, UpstreamSecurity,
} from '../../../../server/src/sidecar/upstream/security.js';

const dir = mkdtempSync(join(tmpdir(), 'cachalot-upstream-security-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const silent = { info: () => {}, error: () => {} };

describe('consumeAuthReply', () => {
  const reply = (text: string): number => consumeAuthReply(Buffer.from(`xx${text}`), 2, 2 + text.length);

  it('takes STORED, also when it arrives in pieces', () => {
    expect(reply('STORED\r\n')).toBe(10);
    expect(reply('STORED\r\nVALUE')).toBe(10);
    for (let i = 0; i < 8; i++) expect(reply('STORED\r\n'.slice(0, i))).toBe(AUTH_NEED_MORE);
  });

  it('refuses any other reply line, and a stream that is not memcached\'s', () => {
    expect(reply('CLIENT_ERROR authentication failure\r\n')).toBe(AUTH_REFUSED);
    expect(reply('CLIENT_ERROR unauthenticated\r\n')).toBe(AUTH_REFUSED);
    expect(reply('CLIENT_ERROR auth')).toBe(AUTH_NEED_MORE);
    expect(reply('x'.repeat(2000))).toBe(AUTH_REFUSED);
  });
});

describe('checkUpstreamSecurity and the auth preamble', () => {
  it('names the flag of a missing file or a half-given client certificate', () => {
    expect(checkUpstreamSecurity({ authFile: join(dir, 'nope') })).toMatch(/^--auth-file .*nope: ENOENT/);
    expect(checkUpstreamSecurity({ tlsCa: join(dir, 'nope.crt') })).toMatch(/^--tls-ca .*nope.crt: ENOENT/);
    expect(checkUpstreamSecurity({ tlsCert: 'c.pem' })).toBe('--tls-cert: needs --tls-key (its private key)');
    expect(checkUpstreamSecurity({ tlsKey: 'k.pem' })).toBe('--tls-key: needs --tls-cert (the client certificate)');
    expect(checkUpstreamSecurity({ tlsCert: 'c.pem', tlsKey: 'k.pem' })).toMatch(/^--tls-cert: needs --tls-ca/);
  });

  it('refuses an auth file that is not one line `user password`', () => {
    for (const text of ['alice:secret\n', 'alice\n', 'alice  secret\n', 'alice secret extra\n', 'a b\nc d\n']) {
      const file = join(dir, 'bad-auth');
      writeFileSync(file, text);
      expect(checkUpstreamSecurity({ authFile: file })).toMatch(/must hold one line 'user password'/);
    }
  });

  it('sends the credential as the data block of a set, with or without a final newline', () => {
    for (const text of ['alice secret\n', 'alice secret', 'alice secret\r\n']) {
      const file = join(dir, 'auth');
      writeFileSync(file, text);
      expect(checkUpstreamSecurity({ authFile: file })).toBeUndefined();
      const sec = UpstreamSecurity.open({ authFile: file }, silent)!;
      expect(sec.authPreamble()?.toString('latin1')).toBe('set auth 0 0 12\r\nalice secret\r\n');
      expect(sec.tls).toBe(false);
      sec.close();
    }
    expect(UpstreamSecurity.open({}, silent)).toBeUndefined();
  });

  it('reads the auth file again when it changes; a bad change keeps the credential in use', () => {
    const file = join(dir, 'rotating');
    writeFileSync(file, 'alice secret\n');
    const sec = UpstreamSecurity.open({ authFile: file }, silent)!;
    writeFileSync(file, 'carol new-one\n');
    sec.reloadNow();
    expect(sec.authPreamble()?.toString('latin1')).toBe('set auth 0 0 13\r\ncarol new-one\r\n');
    writeFileSync(file, 'not valid here\n');
    sec.reloadNow();
    expect(sec.authPreamble()?.toString('latin1')).toBe('set auth 0 0 13\r\ncarol new-one\r\n');
    sec.close();
  });
});
