/**
 * An auth file on disk (cachalot-server's -Y, cachalot-sidecar's --listen-auth-file): read and checked at
 * start (a problem stops the program, exit code 64), then reloaded while it runs. memcached 1.6.18 reloads
 * it on SIGHUP only (its clock handler calls authfile_load once the signal set a flag) and keeps the old
 * entries when the new file is malformed; both programs do the same on SIGHUP and also when the file's
 * content changes, so that credentials mounted from a Kubernetes Secret rotate without a restart or a
 * signal. Connections already authenticated stay so.
 */
import { readFileSync } from 'node:fs';
import { AuthTable } from '../protocol/asciiauth.js';
import { FileWatcher } from './filewatch.js';

/** The file's table, or why it cannot be used (without the flag; the caller names it). */
export function loadAuthFile(path: string): AuthTable | string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    return `cannot read the auth file: ${(err as Error).message}`;
  }
  const table = AuthTable.parse(bytes);
  return typeof table === 'string' ? `the auth file ${table}` : table;
}

export interface AuthReloadLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Calls `publish(bytes, table)` with the file's content after SIGHUP or a change, once the content parses;
 * a malformed or unreadable file is logged (naming `flag`) and the entries in use stay.
 */
export function watchAuthFile(path: string, flag: string, log: AuthReloadLog,
  publish: (bytes: Buffer, table: AuthTable) => void): () => void {
  const offer = (bytes: Buffer, why: string): void => {
    const table = AuthTable.parse(bytes);
    if (typeof table === 'string') {
      log.error({ file: path, reason: why }, `${flag} ${path}: the auth file ${table}; the entries in use stay`);
      return;
    }
    // A file rewritten in place (truncate, then write) reads empty for a moment: taken from a change
    // event, that would refuse every client until the next event. An empty file is taken on SIGHUP only.
    if (table.size === 0 && why === 'changed') {
      log.error({ file: path, reason: why }, `${flag} ${path}: the auth file is empty; the entries in use stay`);
      return;
    }
    log.info({ file: path, entries: table.size, reason: why }, 'auth file reloaded');
    publish(bytes, table);
  };
  const watcher = new FileWatcher([path], (contents) => offer(contents[0], 'changed'));
  const onHup = (): void => {
    try {
      offer(readFileSync(path), 'SIGHUP');
    } catch (err) {
      log.error({ file: path }, `${flag} ${path}: cannot read the auth file: ${(err as Error).message}; the entries in use stay`);
    }
  };
  process.on('SIGHUP', onHup);
  return () => {
    watcher.close();
    process.off('SIGHUP', onHup);
  };
}
