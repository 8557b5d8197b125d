// When an ejected upstream is probed: a server that has answered before waits the retry period (twemproxy's
// server_retry_timeout); one that never answered (a member joining the ring) is probed sooner, doubling; and
// each failed probe schedules exactly one more.
import net from 'node:net';
import { describe, expect, it } from '@jest/globals';
import type { Logger } from 'pino';
import type { UpstreamConn } from '../../../../server/src/sidecar/upstream/connection.js';
import { JOINING_PROBE_FIRST_MS, probeDelayMs, Upstream } from '../../../../server/src/sidecar/upstream/upstream.js';

describe('probeDelayMs', () => {
  it('is the retry period for a server that has answered, whatever the probes before', () => {
    expect(probeDelayMs(true, 0, 30_000)).toBe(30_000);
    expect(probeDelayMs(true, 5, 30_000)).toBe(30_000);
  });

  it('starts short and doubles for a server that never answered, up to the retry period', () => {
    const delays = Array.from({ length: 10 }, (_, i) => probeDelayMs(false, i, 30_000));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(delays[0]).toBe(JOINING_PROBE_FIRST_MS);
  });

  it('never exceeds a retry period shorter than the first joining probe', () => {
    expect(probeDelayMs(false, 0, 100)).toBe(100);
  });

  it('stays finite after many probes', () => {
    expect(probeDelayMs(false, 10_000, 30_000)).toBe(30_000);
  });
});

describe('probes of an ejected upstream', () => {
  it('schedule one probe per failed probe, though a refused connect emits both error and close', async () => {
    // A port nothing listens on: every probe is refused.
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', () => r()));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    let probes = 0;
    const connect = net.connect;
    net.connect = ((...args: Parameters<typeof net.connect>) => {
      const o = args[0] as { port?: number };
      if (typeof o === 'object' && o.port === port) probes++;
      return connect.apply(net, args);
    }) as typeof net.connect;
    let failedProbes = 0;
    const log = {
      info: (_o: unknown, msg: string) => { if (msg === 'upstream probe failed; still ejected') failedProbes++; },
      warn: () => {}, error: () => {},
    };
    const observer = { request: () => {}, replied: () => {}, failed: () => {}, ejected: () => {} };
    const u = new Upstream(`127.0.0.1:${port}`, '127.0.0.1', port,
      { connectTimeoutMs: 200, requestTimeoutMs: 200, failureLimit: 1, retryTimeoutMs: 20, connections: 1 },
      observer, { healthChanged: () => {} }, log as unknown as Logger);
    try {
      u.connFailed(null as unknown as UpstreamConn, 'connect');
      expect(u.ejected).toBe(true);
      for (let i = 0; i < 200 && failedProbes < 5; i++) await new Promise((r) => setTimeout(r, 20));
      expect(failedProbes).toBeGreaterThanOrEqual(5);
      // Every probe is answered by exactly one failure, and the next probe is its only successor.
      expect(failedProbes === probes || failedProbes === probes - 1).toBe(true);
    } finally {
      u.stop();
      net.connect = connect;
    }
  });
});
