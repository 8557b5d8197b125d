// A pipeline of large hits is answered over several turns of the event loop: once a connection has been
// sent 512 KiB of replies in one turn, the rest of its pipeline waits for the next turn (counted in
// `stats` conn_yields, as memcached counts a connection that yields at its -R limit). These tests check
// that the replies still come complete and in order, multi-gets included, and that a client that stops
// reading mid-pipeline and resumes gets everything.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stopServer } from '../../support/servers.js';
import { startCachalotServer, type Cachalot } from '../../support/cachalot.js';
import { connectMany, storageCommand, type McClient } from '../../support/mcclient.js';
import { checkValue, makeValue } from '../../support/selfcheck.js';

const KEYS = 12;
let server: Cachalot;
let client: McClient;

beforeAll(async () => {
  server = await startCachalotServer({ threads: 1, memoryMb: 64 });
  [client] = await connectMany(server.port, 1);
  for (let k = 0; k < KEYS; k++) {
    const key = `big:${k}`;
    // 600 KB: every reply is over the per-turn budget on its own.
    expect((await client.request(storageCommand('set', key, makeValue(key, 'seed', 600_000, k)), 'line')).line).toBe('STORED');
  }
});

afterAll(async () => {
  client?.close();
  await stopServer(server?.server);
});

describe('large replies spread over loop turns', () => {
  it('a pipeline of large gets and multi-gets is answered complete and in order, yielding between', async () => {
    const yieldsBefore = await client.statNumber('conn_yields');
    const lines: string[] = [];
    for (let k = 0; k < KEYS; k++) lines.push(`get big:${k}\r\n`);
    lines.push(`get ${Array.from({ length: KEYS }, (_, k) => `big:${KEYS - 1 - k}`).join(' ')}\r\n`);
    for (let k = 0; k < KEYS; k++) lines.push(`gets big:${k}\r\n`);
    const replies = await client.pipeline(lines.join(''), lines.map(() => 'values' as const));
    const problems: string[] = [];
    replies.forEach((reply, i) => {
      const keys = i < KEYS ? [`big:${i}`] : i === KEYS ? Array.from({ length: KEYS }, (_, k) => `big:${KEYS - 1 - k}`)
        : [`big:${i - KEYS - 1}`];
      if (reply.line !== 'END') problems.push(`reply ${i}: ${reply.line}`);
      if (reply.values.map((v) => v.key).join(' ') !== keys.join(' ')) problems.push(`reply ${i}: keys ${reply.values.map((v) => v.key).join(' ')}`);
      for (const v of reply.values) {
        const p = checkValue(v.key, v.data);
        if (p) problems.push(p);
      }
    });
    expect(problems).toEqual([]);
    // Each 600 KB reply uses up a turn's budget, so every request after the first waited for a later turn.
    expect(await client.statNumber('conn_yields') - yieldsBefore).toBeGreaterThanOrEqual(2 * KEYS - 1);
  });

  it('a client that stops reading mid-pipeline and resumes gets every reply', async () => {
    const [slow] = await connectMany(server.port, 1);
    slow!.socket.pause();
    const lines = Array.from({ length: 40 }, (_, i) => `get big:${i % KEYS}\r\n`);
    const pending = slow!.pipeline(lines.join(''), lines.map(() => 'values' as const));
    // Meanwhile another connection is served.
    expect((await client.request('version\r\n', 'line')).line).toMatch(/^VERSION /);
    slow!.socket.resume();
    const replies = await pending;
    expect(replies.map((r, i) => `${r.values[0]?.key}:${checkValue(`big:${i % KEYS}`, r.values[0]!.data)}`))
      .toEqual(lines.map((_, i) => `big:${i % KEYS}:null`));
    slow!.close();
  });
});
