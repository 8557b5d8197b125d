/**
 * The command table of the text and meta protocol: every command either program knows, the token counts
 * memcached's process_command_ascii() demands of it (ntokens counts the terminal token, as in
 * proto_text.c), and the file of cachalot-server that executes it. The parser (parser.ts) looks a
 * request's first token up here; cachalot-server dispatches on the id (cache/engine/text.ts) and
 * cachalot-sidecar routes on it (sidecar/routing/dispatch.ts).
 */

export const CMD_UNKNOWN = 0;
export const CMD_GET = 1;
export const CMD_GETS = 2;
export const CMD_GAT = 3;
export const CMD_GATS = 4;
export const CMD_BGET = 5;
export const CMD_SET = 6;
export const CMD_ADD = 7;
export const CMD_REPLACE = 8;
export const CMD_APPEND = 9;
export const CMD_PREPEND = 10;
export const CMD_CAS = 11;
export const CMD_INCR = 12;
export const CMD_DECR = 13;
export const CMD_DELETE = 14;
export const CMD_TOUCH = 15;
export const CMD_MG = 16;
export const CMD_MS = 17;
export const CMD_MD = 18;
export const CMD_MA = 19;
export const CMD_MN = 20;
export const CMD_ME = 21;
export const CMD_FLUSH_ALL = 22;
export const CMD_VERBOSITY = 23;
export const CMD_CACHE_MEMLIMIT = 24;
export const CMD_SHUTDOWN = 25;
export const CMD_SLABS = 26;
export const CMD_LRU = 27;
export const CMD_LRU_CRAWLER = 28;
export const CMD_WATCH = 29;
export const CMD_VERSION = 30;
export const CMD_QUIT = 31;
export const CMD_STATS = 32;
/** A line ending in "HTTP/...": a web request sent to the cache port, which memcached drops unanswered. */
export const CMD_HTTP = 33;
export const CMD_REFRESH_CERTS = 34;

export interface CommandSpec {
  readonly name: string;
  readonly id: number;
  /** Fewest and most tokens (memcached's ntokens, terminal token included); outside them: ERROR. */
  readonly minTokens: number;
  readonly maxTokens: number;
  /** The file under server/src/cache/engine/ that executes it in cachalot-server. */
  readonly handler: string;
}

/** ntokens never exceeds MAX_TOKENS; "any" is this. */
const ANY = 24;

function cmd(name: string, id: number, minTokens: number, maxTokens: number, handler: string): CommandSpec {
  return { name, id, minTokens, maxTokens, handler };
}

export const COMMANDS: readonly CommandSpec[] = [
  cmd('get', CMD_GET, 3, ANY, 'retrieval.ts'),
  cmd('gets', CMD_GETS, 3, ANY, 'retrieval.ts'),
  cmd('gat', CMD_GAT, 3, ANY, 'retrieval.ts'),
  cmd('gats', CMD_GATS, 3, ANY, 'retrieval.ts'),
  cmd('bget', CMD_BGET, 3, ANY, 'retrieval.ts'),
  cmd('set', CMD_SET, 6, 7, 'storage.ts'),
  cmd('add', CMD_ADD, 6, 7, 'storage.ts'),
  cmd('replace', CMD_REPLACE, 6, 7, 'storage.ts'),
  cmd('append', CMD_APPEND, 6, 7, 'storage.ts'),
  cmd('prepend', CMD_PREPEND, 6, 7, 'storage.ts'),
  cmd('cas', CMD_CAS, 7, 8, 'storage.ts'),
  cmd('incr', CMD_INCR, 4, 5, 'arithmetic.ts'),
  cmd('decr', CMD_DECR, 4, 5, 'arithmetic.ts'),
  cmd('delete', CMD_DELETE, 3, 5, 'delete-touch.ts'),
  cmd('touch', CMD_TOUCH, 4, 5, 'delete-touch.ts'),
  cmd('mg', CMD_MG, 3, ANY, 'meta-get.ts'),
  cmd('ms', CMD_MS, 3, ANY, 'meta-set.ts'),
  cmd('md', CMD_MD, 3, ANY, 'meta-delete.ts'),
  cmd('ma', CMD_MA, 3, ANY, 'meta-arithmetic.ts'),
  cmd('mn', CMD_MN, 2, ANY, 'text.ts'),
  // me answers a short line with "bad command line format", not ERROR: checked by the parser.
  cmd('me', CMD_ME, 2, ANY, 'meta-debug.ts'),
  cmd('flush_all', CMD_FLUSH_ALL, 2, 4, 'admin.ts'),
  cmd('verbosity', CMD_VERBOSITY, 3, 4, 'admin.ts'),
  cmd('cache_memlimit', CMD_CACHE_MEMLIMIT, 3, 4, 'admin.ts'),
  cmd('shutdown', CMD_SHUTDOWN, 2, ANY, 'admin.ts'),
  cmd('slabs', CMD_SLABS, 2, ANY, 'admin.ts'),
  cmd('lru', CMD_LRU, 3, ANY, 'admin.ts'),
  cmd('lru_crawler', CMD_LRU_CRAWLER, 2, ANY, 'admin.ts'),
  cmd('watch', CMD_WATCH, 2, ANY, 'admin.ts'),
  cmd('version', CMD_VERSION, 2, ANY, 'text.ts'),
  cmd('quit', CMD_QUIT, 2, ANY, 'text.ts'),
  cmd('stats', CMD_STATS, 2, ANY, 'stats.ts'),
  cmd('refresh_certs', CMD_REFRESH_CERTS, 2, ANY, 'admin.ts'),
];

/** The table indexed by a command's first byte, so a lookup compares a handful of names at most. */
const BY_FIRST_BYTE: (CommandSpec[] | undefined)[] = new Array(128).fill(undefined);
for (const c of COMMANDS) (BY_FIRST_BYTE[c.name.charCodeAt(0)] ??= []).push(c);

/** The command named by buf[start, end), or undefined. */
export function lookupCommand(buf: Uint8Array, start: number, end: number): CommandSpec | undefined {
  const first = buf[start];
  const candidates = first < 128 ? BY_FIRST_BYTE[first] : undefined;
  if (candidates === undefined) return undefined;
  const len = end - start;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    const name = c.name;
    if (name.length !== len) continue;
    let k = 1;
    while (k < len && buf[start + k] === name.charCodeAt(k)) k++;
    if (k === len) return c;
  }
  return undefined;
}

/** Storage commands wait for a data block; these are their ids, in CMD_SET..CMD_CAS order. */
export function isStorageCommand(id: number): boolean {
  return id >= CMD_SET && id <= CMD_CAS;
}
