import { LINE_LIMIT } from './limits.js';

/** findLine(): the line's '\n' has not arrived yet. */
export const NEED_MORE = -1;
/** findLine(): no '\n' within the bound: memcached closes such a client. */
export const LINE_TOO_LONG = -2;

/**
 * The offset of the '\n' that ends the request line starting at buf[pos], looking no further than end;
 * NEED_MORE when it has not arrived, LINE_TOO_LONG when the bytes without one exceed LINE_LIMIT (2 KiB),
 * or `maxGetLine` for a get/gets line, which memcached lets grow (try_read_command_ascii).
 */
export function findLine(buf: Buffer, pos: number, end: number, maxGetLine: number): number {
  const nl = buf.indexOf(10, pos);
  if (nl >= 0 && nl < end) return nl;
  const pending = end - pos;
  if (pending > LINE_LIMIT && (pending > maxGetLine || !isGetLine(buf, pos, end))) return LINE_TOO_LONG;
  return NEED_MORE;
}

/** Where the line ending at the '\n' at `nl` ends without its "\r" (a lone "\r\n" line keeps it, as memcached does). */
export function lineEndBefore(buf: Buffer, pos: number, nl: number): number {
  return nl - pos > 1 && buf[nl - 1] === 13 ? nl - 1 : nl;
}

/** memcached lets a line without '\n' grow past 2 KiB only when it starts with "get " or "gets ". */
export function isGetLine(buf: Buffer, pos: number, end: number): boolean {
  let p = pos;
  while (p < end && buf[p] === 32) p++;
  if (p - pos > 100) return false;
  if (!(buf[p] === 103 && buf[p + 1] === 101 && buf[p + 2] === 116)) return false;
  return buf[p + 3] === 32 || (buf[p + 3] === 115 && buf[p + 4] === 32);
}
