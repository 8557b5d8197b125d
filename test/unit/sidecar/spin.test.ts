import { mark, setSpin, spinStats, type Flushable } from '../../../server/src/sidecar/batch.js';

/**
 * batch.ts spinning (--spin-us): it must stop spinning when spins are mostly their idle final stretch
 * (sparse traffic: each would cost --spin-us of CPU per request), keep probing, and spin again when the
 * traffic is dense. Real timers; each phase is bounded in count and time.
 */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const immediate = () => new Promise<void>((r) => setImmediate(r));

class Dummy implements Flushable {
  marked = false;
  flushes = 0;
  flush(): void {
    this.flushes++;
  }
}

describe('sidecar spinning after light turns', () => {
  afterAll(() => setSpin(0));

  test('sparse traffic stops the spins (but for probes), dense traffic brings them back', async () => {
    setSpin(200);
    const f = new Dummy();
    // Sparse: one light turn every 3 ms, far longer than the 200 µs spin.
    const started0 = spinStats.started;
    for (let i = 0; i < 64; i++) {
      mark(f);
      await sleep(3);
    }
    const sparseSpins = spinStats.started - started0;
    expect(f.flushes).toBe(64);
    // Without the waste record every light turn would spin (64); it stops after a handful, then probes
    // one turn in 16.
    expect(sparseSpins).toBeLessThanOrEqual(16);
    expect(sparseSpins).toBeGreaterThanOrEqual(4);
    expect(spinStats.waste).toBeGreaterThan(0.5);
    // Dense: work in every turn for 30 ms (a light turn each), then quiet. Probes during the dense stretches
    // see it, and the waste average comes back down.
    const dense = async (): Promise<void> => {
      const until = performance.now() + 30;
      for (let n = 0; performance.now() < until && n < 100_000; n++) {
        mark(f);
        await immediate();
      }
      await sleep(5);
    };
    await dense();
    for (let i = 0; i < 4 && spinStats.waste > 0.5; i++) await dense();
    expect(spinStats.waste).toBeLessThan(0.5);
  });
});
