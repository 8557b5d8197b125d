// Replies on a TLS connection take the same handle paths as plaintext ones (net/sharedread.ts,
// net/directwrite.ts), with one write on the TLS layer at a time and the rest queued in order. Many writes
// from one read (the reply buffer flushed mid-batch, large values sent from shared memory), quit after them,
// a client that stops reading and then reads everything, and the connection's other read path (with an idle
// timeout). Every byte is checked.
import { afterAll, beforeAll, expect } from '@jest/globals';
import { stopServer } from '../../support/servers.js';
import { startCachalotServer, type Cachalot } from '../../support/cachalot.js';
import { makeCerts, type TestCerts } from '../../support/certs.js';
import { connectTls } from '../../support/tlsclient.js';
import { requireOpenssl } from '../../support/prereq.js';
import type { RawClient } from '../../support/rawclient.js';

const gate = requireOpenssl();
let certs: TestCerts | undefined;

beforeAll(() => {
  try {
    certs = makeCerts();
  } catch {
    // requireOpenssl() reports the missing CLI.
  }
});

afterAll(() => certs?.remove());

/** Large enough to be sent from shared memory (64 KiB and more), and several TLS records each. */
const BIG = Buffer.alloc(100_000);
for (let i = 0; i < BIG.length; i++) BIG[i] = 97 + (i % 26);
const SMALL = 'small-value';

function expectedReplies(n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(Buffer.from(`VALUE big 0 ${BIG.length}\r\n`), BIG, Buffer.from(`\r\nEND\r\nVALUE s 0 ${SMALL.length}\r\n${SMALL}\r\nEND\r\n`));
  }
  return Buffer.concat(parts);
}

async function readBytes(client: RawClient, n: number): Promise<Buffer> {
  const got = await client.read((d) => d.length >= n, 30_000, 60_000);
  return got.data;
}

for (const [what, extra] of [['direct reads', []], ['reads through the idle timer', ['-o', 'idle_timeout=600']]] as const) {
  gate.describe(`TLS replies, ${what}`, () => {
    let cachalot: Cachalot | undefined;

    beforeAll(async () => {
      cachalot = await startCachalotServer({
        threads: 1, metrics: false,
        extra: ['-Z', '-o', `ssl_chain_cert=${certs!.serverCert},ssl_key=${certs!.serverKey}`, ...extra],
      });
      const { client } = await connectTls(cachalot.port, { ca: certs!.ca });
      await client.send(Buffer.concat([Buffer.from(`set big 0 0 ${BIG.length}\r\n`), BIG, Buffer.from(`\r\nset s 0 0 ${SMALL.length}\r\n${SMALL}\r\n`)]));
      expect((await readBytes(client, 16)).toString()).toBe('STORED\r\nSTORED\r\n');
      client.close();
    }, 30_000);

    afterAll(async () => {
      await stopServer(cachalot?.server);
    });

    gate.test('a pipeline whose replies take many writes comes back whole and in order', async () => {
      const { client } = await connectTls(cachalot!.port, { ca: certs!.ca });
      const n = 40;
      await client.send('get big\r\nget s\r\n'.repeat(n));
      const want = expectedReplies(n);
      const got = await readBytes(client, want.length);
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
      client.close();
    }, 60_000);

    gate.test('quit after a pipeline whose replies take many writes: every reply, then the close', async () => {
      const { client } = await connectTls(cachalot!.port, { ca: certs!.ca });
      const n = 12;
      await client.send(`${'get big\r\nget s\r\n'.repeat(n)}quit\r\n`);
      const got = await client.read(() => false, 30_000, 60_000);
      expect(got.end).toBe('eof');
      expect(got.data.equals(expectedReplies(n))).toBe(true);
    }, 60_000);

    gate.test('a client that half-closes after a pipeline still gets every reply, then the close', async () => {
      const { client, socket } = await connectTls(cachalot!.port, { ca: certs!.ca });
      // Not reading while the FIN arrives: the server holds most replies queued (over the 4 MiB bound).
      socket.pause();
      const n = 50;
      socket.end('get big\r\nget s\r\n'.repeat(n));
      await new Promise((r) => setTimeout(r, 300));
      socket.resume();
      const got = await client.read(() => false, 30_000, 60_000);
      expect(got.end).toBe('eof');
      expect(got.data.equals(expectedReplies(n))).toBe(true);
    }, 60_000);

    gate.test('a client that stops reading gets every reply once it reads again', async () => {
      const { client, socket } = await connectTls(cachalot!.port, { ca: certs!.ca });
      socket.pause();
      // 50 x 100 KB: past the 4 MiB output bound, so the server stops reading this client for a while.
      const n = 50;
      await client.send('get big\r\nget s\r\n'.repeat(n));
      const want = expectedReplies(n);
      socket.resume();
      const got = await readBytes(client, want.length);
      expect(got.equals(want)).toBe(true);
      // The connection still serves after the backlog.
      await client.send('get s\r\n');
      const tail = await client.read((d) => d.toString('latin1').endsWith('END\r\n'), 30_000, 30_000);
      expect(tail.data.toString('latin1')).toBe(`VALUE s 0 ${SMALL.length}\r\n${SMALL}\r\nEND\r\n`);
      client.close();
    }, 60_000);
  });
}
