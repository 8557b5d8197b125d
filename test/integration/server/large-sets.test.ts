// Large sets whose data block arrives over several reads are received straight into their item: allocated
// at the line, unlinked, its segment pinned until the block is complete. These tests cut such uploads short
// (the client dies mid-value, or after the value but before its "\r\n") and check that nothing was linked:
// the key is absent or keeps its old value, `stats` bytes and curr_items are unchanged, and every pin is
// released (/metrics cachalot_store_segments_pinned back to 0). Blocks split at odd places (one byte of
// the trailer per send) still store byte-exact values; a bad trailer, an add of a present key and a cas
// mismatch store nothing and release their pins too.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type net from 'node:net';
import { stopServer } from '../../support/servers.js';
import { scrape, sleep, startCachalotServer, waitFor, type Cachalot } from '../../support/cachalot.js';
import { connectMany, storageCommand, type McClient } from '../../support/mcclient.js';
import { connectLoopback } from '../../support/rawclient.js';
import { checkValue, makeValue } from '../../support/selfcheck.js';

let server: Cachalot;
let client: McClient;

beforeAll(async () => {
  server = await startCachalotServer({ threads: 2, memoryMb: 32 });
  [client] = await connectMany(server.port, 1);
});

afterAll(async () => {
  client?.close();
  await stopServer(server?.server);
});

const pinned = async (): Promise<number> => (await scrape(server.metricsPort)).get('cachalot_store_segments_pinned') ?? -1;

async function usage(): Promise<{ bytes: number; items: number }> {
  return { bytes: await client.statNumber('bytes'), items: await client.statNumber('curr_items') };
}

/** Writes `bytes` on a fresh connection, waits until the server holds a pin for the value, then kills it. */
async function dieMidValue(bytes: Buffer): Promise<void> {
  const socket: net.Socket = await connectLoopback(server.port);
  socket.on('error', () => { /* the reset we cause */ });
  socket.write(bytes);
  await waitFor(async () => (await pinned()) > 0, 5_000, 'the partial value received into a pinned item');
  socket.resetAndDestroy();
  await waitFor(async () => (await pinned()) === 0, 5_000, 'the pin released after the connection died');
}

async function getOne(key: string): Promise<Buffer | null> {
  const reply = await client.request(`get ${key}\r\n`, 'values');
  expect(reply.line).toBe('END');
  return reply.values.length === 0 ? null : reply.values[0]!.data;
}

describe('large values received straight into their item', () => {
  it('a connection that dies mid-value links nothing: the key is absent or keeps its old value', async () => {
    const old = makeValue('big:kept', 'old', 300_000, 1);
    expect((await client.request(storageCommand('set', 'big:kept', old), 'line')).line).toBe('STORED');
    const before = await usage();
    const fresh = makeValue('big:kept', 'new', 300_000, 2);
    // Half the value, then the whole value without its "\r\n": both die before the block is complete.
    await dieMidValue(Buffer.concat([Buffer.from(`set big:kept 0 0 ${fresh.length}\r\n`), fresh.subarray(0, 150_000)]));
    await dieMidValue(Buffer.concat([Buffer.from(`set big:kept 0 0 ${fresh.length}\r\n`), fresh]));
    await dieMidValue(Buffer.concat([Buffer.from(`set big:absent 0 0 ${fresh.length}\r\n`), fresh.subarray(0, 200_000)]));
    expect((await getOne('big:kept'))?.equals(old)).toBe(true);
    expect(await getOne('big:absent')).toBeNull();
    expect(await usage()).toEqual(before);
  });

  it('a block sent in odd pieces (the trailer a byte at a time) stores the exact value', async () => {
    const socket = await connectLoopback(server.port);
    const value = makeValue('big:split', 'split', 100_001, 3);
    const pieces = [
      Buffer.from(`set big:split 5 0 ${value.length}\r`), Buffer.from('\n'), value.subarray(0, 1), value.subarray(1, 70_000),
      value.subarray(70_000, 100_000), value.subarray(100_000), Buffer.from('\r'), Buffer.from('\n'),
    ];
    const replies: Buffer[] = [];
    socket.on('data', (d: Buffer) => replies.push(d));
    for (const piece of pieces) {
      socket.write(piece);
      // Separate sends, so that the server sees the block arrive over several reads.
      await sleep(20);
    }
    await waitFor(() => Buffer.concat(replies).includes('\r\n'), 5_000, 'the reply to the split set');
    socket.destroy();
    expect(Buffer.concat(replies).toString()).toBe('STORED\r\n');
    const reply = await client.request('get big:split\r\n', 'values');
    expect(reply.values[0]!.flags).toBe(5);
    expect(reply.values[0]!.data.equals(value)).toBe(true);
  });

  it('the end of a value read in place, with the next requests in the same send, answers them all exactly', async () => {
    // After the first piece the server reads the rest of the value straight into its item, a read never
    // longer than what is missing: the trailer and the requests behind it must still be parsed as such.
    const socket = await connectLoopback(server.port);
    const value = makeValue('big:tail', 'tail', 600_000, 5);
    const replies: Buffer[] = [];
    socket.on('data', (d: Buffer) => replies.push(d));
    socket.write(Buffer.concat([Buffer.from(`set big:tail 0 0 ${value.length}\r\n`), value.subarray(0, 20_000)]));
    await sleep(20);
    socket.write(value.subarray(20_000, 300_000));
    await sleep(20);
    socket.write(Buffer.concat([value.subarray(300_000), Buffer.from('\r\nset small:tail 0 0 2\r\nok\r\nget small:tail\r\n')]));
    await waitFor(() => Buffer.concat(replies).includes('END\r\n'), 5_000, 'the replies after the large set');
    socket.destroy();
    expect(Buffer.concat(replies).toString()).toBe('STORED\r\nSTORED\r\nVALUE small:tail 0 2\r\nok\r\nEND\r\n');
    expect((await getOne('big:tail'))?.equals(value)).toBe(true);
  });

  it('a bad trailer, an add of a present key and a cas mismatch store nothing and release the pin', async () => {
    const value = makeValue('big:other', 'x', 50_000, 4);
    expect((await client.request(storageCommand('set', 'big:other', value), 'line')).line).toBe('STORED');
    const cas = (await client.request('gets big:other\r\n', 'values')).values[0]!.cas!;
    const before = await usage();
    const socket = await connectLoopback(server.port);
    const replies: Buffer[] = [];
    socket.on('data', (d: Buffer) => replies.push(d));
    const other = makeValue('big:other', 'y', 50_000, 5);
    const send = async (line: string, tail: string): Promise<void> => {
      socket.write(line);
      await sleep(20);
      socket.write(other.subarray(0, 20_000));
      await sleep(20);
      socket.write(Buffer.concat([other.subarray(20_000), Buffer.from(tail)]));
    };
    const n = other.length;
    await send(`set big:other 0 0 ${n}\r\n`, 'XY');
    await send(`add big:other 0 0 ${n}\r\n`, '\r\n');
    await send(`cas big:other 0 0 ${n} ${cas + 1n}\r\n`, '\r\n');
    const want = 'CLIENT_ERROR bad data chunk\r\nNOT_STORED\r\nEXISTS\r\n';
    await waitFor(() => Buffer.concat(replies).length >= want.length, 5_000, 'three replies');
    socket.destroy();
    expect(Buffer.concat(replies).toString()).toBe(want);
    expect((await getOne('big:other'))?.equals(value)).toBe(true);
    expect(await usage()).toEqual(before);
    expect(await pinned()).toBe(0);
  });

  it('many abandoned uploads cost no space: the store still takes -m of new values afterwards', async () => {
    for (let i = 0; i < 40; i++) {
      const value = makeValue(`gone:${i}`, 'gone', 600_000, i);
      await dieMidValue(Buffer.concat([Buffer.from(`set gone:${i} 0 0 ${value.length}\r\n`), value.subarray(0, 400_000)]));
    }
    for (let i = 0; i < 32; i++) {
      const key = `after:${i}`;
      expect((await client.request(storageCommand('set', key, makeValue(key, 'after', 900_000, i)), 'line')).line).toBe('STORED');
    }
    const last = await getOne('after:31');
    expect(last).not.toBeNull();
    expect(checkValue('after:31', last!)).toBeNull();
    for (let i = 0; i < 40; i++) expect(await getOne(`gone:${i}`)).toBeNull();
  });
});
