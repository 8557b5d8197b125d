/**
 * The kubelet double's secret volumes as the kubelet's atomic writer lays them out: key symlinks through
 * `..data` to a timestamped directory, swapped whole by one rename, modes and items honoured.
 * (Updates driven by Secret changes in a running cluster are exercised by security.test.ts.)
 */
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Secret, V1Volume } from '@kubernetes/client-node';
import { secretPayload, writeAtomically } from './secret-volumes.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const secret = (data: Record<string, string>): V1Secret => ({ metadata: { name: 's', namespace: 'default' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) });

describe('secret volumes (kubelet double)', () => {
  let dir = '';
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'cachalot-secretvol-')), 'vol');
  });
  afterEach(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

  test('writes each key as a symlink through ..data, with defaultMode, and swaps ..data on a change', () => {
    const vol: V1Volume = { name: 'tls', secret: { secretName: 's', defaultMode: 0o440 } };
    expect(writeAtomically(dir, secretPayload(vol, secret({ 'tls.crt': 'A', 'tls.key': 'a' }))!)).toBe(true);
    expect(lstatSync(join(dir, 'tls.crt')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, 'tls.crt'))).toBe(join('..data', 'tls.crt'));
    const first = readlinkSync(join(dir, '..data'));
    expect(first).toMatch(/^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\d{9}$/);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe('A');
    expect(statSync(join(dir, 'tls.key')).mode & 0o777).toBe(0o440);

    // The same payload again: nothing is rewritten.
    expect(writeAtomically(dir, secretPayload(vol, secret({ 'tls.crt': 'A', 'tls.key': 'a' }))!)).toBe(false);
    expect(readlinkSync(join(dir, '..data'))).toBe(first);

    // A change: both files at once through the new ..data; a dropped key's symlink goes, a new key's comes.
    expect(writeAtomically(dir, secretPayload(vol, secret({ 'tls.crt': 'B', 'ca.crt': 'C' }))!)).toBe(true);
    expect(readlinkSync(join(dir, '..data'))).not.toBe(first);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe('B');
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe('C');
    expect(existsSync(join(dir, 'tls.key'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['..data', readlinkSync(join(dir, '..data')), 'ca.crt', 'tls.crt'].sort());
  });

  test('items pick keys, rename them and set their own mode; a missing key fails the mount unless optional', () => {
    const vol: V1Volume = { name: 'auth', secret: { secretName: 's', items: [{ key: 'auth', path: 'users/file', mode: 0o400 }] } };
    writeAtomically(dir, secretPayload(vol, secret({ auth: 'app:one', other: 'x' }))!);
    expect(readFileSync(join(dir, 'users', 'file'), 'utf8')).toBe('app:one');
    expect(statSync(join(dir, 'users', 'file')).mode & 0o777).toBe(0o400);
    expect(existsSync(join(dir, 'other'))).toBe(false);
    expect(() => secretPayload(vol, secret({ other: 'x' }))).toThrow(/non-existent secret key: auth/);
    expect(secretPayload({ ...vol, secret: { ...vol.secret, optional: true } }, secret({ other: 'x' }))!.size).toBe(0);
    expect(secretPayload(vol, undefined)).toBeUndefined();
  });
});
