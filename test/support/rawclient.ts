// A minimal raw TCP client for protocol tests: it writes exact bytes (whole, or in tiny pieces that each
// become their own send) and reads replies until a caller-supplied terminator, end of stream, or a quiet
// period. It never interprets the protocol.
import net from 'node:net';

export type ReadEnd = 'terminator' | 'eof' | 'quiet' | 'deadline';

export interface ReadResult {
  readonly data: Buffer;
  readonly end: ReadEnd;
}

/** A TCP connection to 127.0.0.1:port, or an error naming the port once timeoutMs has passed. */
export function connectLoopback(port: number, timeoutMs = 5_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to 127.0.0.1:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export class RawClient {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private wake: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.notify();
    });
    const onEnd = (): void => {
      this.ended = true;
      this.notify();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onEnd);
  }

  /** A client over a socket already connected (a TLS socket after its handshake, for instance). */
  static over(socket: net.Socket): RawClient {
    return new RawClient(socket);
  }

  static async connect(port: number, timeoutMs = 5_000): Promise<RawClient> {
    return new RawClient(await connectLoopback(port, timeoutMs));
  }

  get closed(): boolean {
    return this.ended;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Writes the bytes in one send. */
  async send(bytes: Buffer | string): Promise<void> {
    if (this.ended) return;
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    await new Promise<void>((resolve) => this.socket.write(buf, () => resolve()));
  }

  /**
   * Writes the bytes in pieces of 1 to 3 bytes (sizes from `nextSize`), each its own send; yields to the event
   * loop between pieces so that the server sees them in separate reads most of the time. Resolves once the last
   * piece has been handed to the kernel.
   */
  async sendInPieces(bytes: Buffer | string, nextSize: () => number): Promise<void> {
    const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    let offset = 0;
    for (let pieces = 0; offset < buf.length && pieces <= buf.length; pieces++) {
      if (this.ended) return;
      const size = Math.max(1, Math.min(3, nextSize()));
      const piece = buf.subarray(offset, offset + size);
      offset += piece.length;
      // With nothing queued, write() hands the piece to the kernel at once (one send each, TCP_NODELAY is on).
      this.socket.write(piece);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (this.socket.writableLength > 0) await new Promise<void>((resolve) => this.socket.write(Buffer.alloc(0), () => resolve()));
  }

  /**
   * Reads until `isComplete(bufferedBytes)` holds, the peer closes, no byte arrives for `quietMs`, or `maxMs`
   * elapses; returns and consumes everything buffered.
   */
  async read(isComplete: (data: Buffer) => boolean, quietMs: number, maxMs: number): Promise<ReadResult> {
    const deadline = Date.now() + maxMs;
    let end: ReadEnd;
    for (;;) {
      const data = this.peek();
      if (isComplete(data)) {
        end = 'terminator';
        break;
      }
      if (this.ended) {
        end = 'eof';
        break;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        end = 'deadline';
        break;
      }
      const before = this.buffered;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = null;
          resolve();
        }, Math.min(quietMs, remaining));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (this.buffered === before && !this.ended && !isComplete(this.peek())) {
        end = Date.now() >= deadline ? 'deadline' : 'quiet';
        break;
      }
    }
    const data = this.peek();
    this.chunks.length = 0;
    this.buffered = 0;
    return { data, end };
  }

  /** Reads until `terminator` ends the buffered bytes (see read()). */
  readUntil(terminator: string, quietMs = 2_000, maxMs = 10_000): Promise<ReadResult> {
    const term = Buffer.from(terminator, 'latin1');
    return this.read((d) => d.length >= term.length && d.subarray(d.length - term.length).equals(term), quietMs, maxMs);
  }

  private peek(): Buffer {
    if (this.chunks.length > 1) {
      const joined = Buffer.concat(this.chunks);
      this.chunks.length = 0;
      this.chunks.push(joined);
    }
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  close(): void {
    this.ended = true;
    this.socket.destroy();
  }
}

/**
 * Sends each step on its own and collects the bytes that came back for it: every step of such a script has a
 * reply (or the peer closes), so the first line is awaited (a loaded machine may take a while), then whatever
 * follows until the peer is quiet for `quietMs`. A close ends the transcript, marked `<closed>`.
 */
export async function transcript(client: RawClient, steps: readonly string[], quietMs = 150): Promise<string[]> {
  const replies: string[] = [];
  for (const step of steps) {
    await client.send(step);
    const first = await client.read((d) => d.length >= 2 && d[d.length - 1] === 10, 5_000, 5_000);
    const rest = first.end === 'terminator' ? await client.read(() => false, quietMs, 5_000) : first;
    const data = first === rest ? first.data : Buffer.concat([first.data, rest.data]);
    replies.push(data.toString('latin1') + (rest.end === 'eof' ? '<closed>' : ''));
    if (rest.end === 'eof') break;
  }
  return replies;
}

