import { VERSION } from './version.js';

/** Reply lines both programs send without asking a store, as memcached words them. */
export const OK = 'OK';
export const END = 'END';
export const MN = 'MN';
export const VERSION_LINE = 'VERSION ' + VERSION;
export const SHUTDOWN_NOT_ENABLED = 'ERROR: shutdown not enabled';

const bytesOf = new Map<string, Buffer>();

/**
 * `text` + "\r\n" as bytes, made once per text: replies come from a small fixed set (the parser's error
 * texts and the lines above), so a program that writes Buffers gets them without allocating per request.
 */
export function replyBytes(text: string): Buffer {
  let b = bytesOf.get(text);
  if (b === undefined) {
    b = Buffer.from(text + '\r\n', 'latin1');
    bytesOf.set(text, b);
  }
  return b;
}
