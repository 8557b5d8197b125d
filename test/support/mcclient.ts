// A small pipelining memcached text-protocol client for black-box tests that need many requests per
// connection (stress, threads, lifecycle). Requests are written as exact bytes; each queued request says how
// its reply is framed, and replies are matched to requests strictly in order, so a reply that arrives in the
// wrong order or with the wrong shape fails the test instead of being silently re-associated.
import net from 'node:net';
import { connectLoopback } from './rawclient.js';

/** How a reply is framed on the wire. */
export type ReplyShape =
  | 'line' // one line: STORED, EXISTS, a number, ERROR...
  | 'values' // zero or more VALUE blocks, then END (or an error line)
  | 'stats'; // STAT lines, then END (or an error line)

export interface ValueBlock {
  readonly key: string;
  readonly flags: number;
  readonly cas: bigint | undefined;
  readonly data: Buffer;
}

export interface Reply {
  /** Every byte of the reply, terminator included. */
  readonly raw: Buffer;
  /** The last line without CRLF: END, STORED, a number, an error. */
  readonly line: string;
  readonly values: readonly ValueBlock[];
  readonly stats: ReadonlyMap<string, string>;
}

interface Pending {
  readonly shape: ReplyShape;
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

const CRLF = Buffer.from('\r\n');

export class McClient {
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Pending[] = [];
  private closedError: Error | null = null;
  /** Resolves when the server closes the connection (EOF or reset). */
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.drain();
    });
    this.closed = new Promise((resolve) => {
      const onEnd = (): void => {
        if (!this.closedError) this.closedError = new Error('connection closed by the server');
        for (const p of this.queue.splice(0)) p.reject(this.closedError);
        resolve();
      };
      socket.on('end', onEnd);
      socket.on('close', onEnd);
    });
    socket.on('error', (err) => {
      this.closedError = err;
    });
  }

  static async connect(port: number, timeoutMs = 5_000): Promise<McClient> {
    return new McClient(await connectLoopback(port, timeoutMs));
  }

  /** The client's local port: the `addr` the server lists for this connection in `stats conns`. */
  get localPort(): number {
    return this.socket.localPort ?? -1;
  }

  get isClosed(): boolean {
    return this.closedError !== null;
  }

  /** Queues the reply expectations and writes the bytes in one send; resolves with one reply per shape. */
  pipeline(bytes: Buffer | string, shapes: readonly ReplyShape[]): Promise<Reply[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    const replies = shapes.map(
      (shape) => new Promise<Reply>((resolve, reject) => this.queue.push({ shape, resolve, reject })),
    );
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    return Promise.all(replies);
  }

  async request(bytes: Buffer | string, shape: ReplyShape): Promise<Reply> {
    const [reply] = await this.pipeline(bytes, [shape]);
    return reply!;
  }

  async stats(group = ''): Promise<ReadonlyMap<string, string>> {
    const reply = await this.request(group ? `stats ${group}\r\n` : 'stats\r\n', 'stats');
    if (reply.line !== 'END') throw new Error(`stats ${group}: ${reply.line}`);
    return reply.stats;
  }

  async statNumber(name: string): Promise<number> {
    const value = (await this.stats()).get(name);
    if (value === undefined) throw new Error(`stats has no ${name}`);
    return Number(value);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Parses as many complete replies off the front of the buffer as there are. */
  private drain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const parsed = parseReply(this.buf, head.shape);
      if (parsed === null) return;
      this.queue.shift();
      const raw = this.buf.subarray(0, parsed.consumed);
      this.buf = this.buf.subarray(parsed.consumed);
      head.resolve({ ...parsed.reply, raw: Buffer.from(raw) });
    }
  }
}

/** One reply off the front of `buf`, or null if it is not complete yet. Throws on a malformed VALUE line. */
export function parseReply(
  buf: Buffer,
  shape: ReplyShape,
): { reply: Omit<Reply, 'raw'>; consumed: number } | null {
  const values: ValueBlock[] = [];
  const stats = new Map<string, string>();
  let pos = 0;
  for (;;) {
    const nl = buf.indexOf(CRLF, pos);
    if (nl < 0) return null;
    const line = buf.toString('latin1', pos, nl);
    const next = nl + 2;
    if (shape === 'line') return { reply: { line, values, stats }, consumed: next };
    if (shape === 'values' && line.startsWith('VALUE ')) {
      const parts = line.split(' ');
      const bytes = Number(parts[3]);
      if (parts.length < 4 || !Number.isInteger(bytes)) throw new Error(`malformed VALUE line: ${line}`);
      if (buf.length < next + bytes + 2) return null;
      if (buf[next + bytes] !== 13 || buf[next + bytes + 1] !== 10) throw new Error(`data block of ${parts[1]} not followed by CRLF`);
      values.push({
        key: parts[1]!,
        flags: Number(parts[2]),
        cas: parts[4] === undefined ? undefined : BigInt(parts[4]),
        data: Buffer.from(buf.subarray(next, next + bytes)),
      });
      pos = next + bytes + 2;
      continue;
    }
    if (shape === 'stats' && line.startsWith('STAT ')) {
      const sp = line.indexOf(' ', 5);
      stats.set(sp < 0 ? line.slice(5) : line.slice(5, sp), sp < 0 ? '' : line.slice(sp + 1));
      pos = next;
      continue;
    }
    // END, or an error line that ends the reply early.
    return { reply: { line, values, stats }, consumed: next };
  }
}

/** `set`/`add`/... request bytes: header line, data block. */
export function storageCommand(verb: string, key: string, data: Buffer, flags = 0, exptime = 0, cas?: bigint): Buffer {
  const header = `${verb} ${key} ${flags} ${exptime} ${data.length}${cas === undefined ? '' : ` ${cas}`}\r\n`;
  return Buffer.concat([Buffer.from(header, 'latin1'), data, CRLF]);
}

/** Opens `count` connections, at most `parallel` connects in flight (a burst of SYNs can overflow a backlog). */
export async function connectMany(port: number, count: number, parallel = 32): Promise<McClient[]> {
  const clients: McClient[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(parallel, count - i) }, () => McClient.connect(port)),
    );
    clients.push(...batch);
  }
  return clients;
}
