import { WorkQueue } from '../../../operator/src/controller/workqueue.js';

describe('WorkQueue', () => {
  it('dedups keys waiting in the queue', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
  });

  it('never hands out a key being processed; an add meanwhile re-queues it once done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0);
    q.done(k!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('backs off exponentially per key and forget() resets it', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100 });
    expect([1, 2, 3, 4, 5].map(() => q.addRateLimited('x'))).toEqual([10, 20, 40, 80, 100]);
    expect(q.numRequeues('x')).toBe(5);
    q.forget('x');
    expect(q.addRateLimited('x')).toBe(10);
    q.shutdown();
  });

  it('the token bucket bounds the overall retry rate', () => {
    const q = new WorkQueue({ baseDelayMs: 1, qps: 10, burst: 2 });
    const delays = ['a', 'b', 'c', 'd'].map((k) => q.addRateLimited(k));
    expect(delays.slice(0, 2)).toEqual([1, 1]);
    expect(delays[2]).toBeGreaterThanOrEqual(90);
    expect(delays[3]).toBeGreaterThan(delays[2]!);
    q.shutdown();
  });

  it('addAfter keeps the earliest of several delays and delivers the key', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 60_000);
    q.addAfter('k', 1);
    expect(await q.get()).toBe('k');
    q.shutdown();
  });

  it('a waiting worker is woken by add, and released by shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('z');
    expect(await waiting).toBe('z');
    const idle = q.get();
    q.shutdown();
    expect(await idle).toBeUndefined();
  });
});
