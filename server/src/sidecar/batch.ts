/**
 * Write coalescing (STYLE.md rule 4). Handlers mark the client connections that have replies ready and the
 * upstream connections that have requests queued; one setImmediate per event-loop turn flushes them all.
 * Node runs every socket callback that is ready in one poll phase before the check phase, so the requests
 * that 50 clients sent in the same turn reach each upstream in one write, and the upstream reads them in one
 * read: the sidecar pipelines for clients that do not. Measured with bench/sidecar.mjs (50 connections,
 * depth 1): flushing at the end of each callback instead cost about twice the sidecar CPU per request and a
 * third more upstream CPU per request, from one write and one read per request on every hop.
 *
 * Upstreams are written before clients in each turn, so that the servers (other processes, often on the
 * other core) start on their requests while the sidecar is still writing replies to its clients.
 *
 * A client may ask to be flushed in the next turn instead (`markNextTurn`): client.ts does that once when
 * only part of a pipelined batch is answered, so the rest, usually from another server and already on its way,
 * goes out in the same write.
 *
 * Spinning (`--spin-us`): after light turns (on average at most SPIN_LIGHT_FLUSHES sockets written), the loop
 * keeps polling (setImmediate, so epoll with a zero timeout) for up to that long instead of sleeping in epoll_wait.
 * A request's round trip through the sidecar has two waits for another process (the server, then the
 * application's next request); sleeping through them costs a wake-up each, which on this 2-vCPU VM was most
 * of the hop: 1 connection, 3 servers, 3 alternating rounds: 0.50-0.62x direct throughput sleeping, 1.02-1.05x
 * spinning 100 us, at 60 instead of 49 us of sidecar CPU per request. Under load the turns are heavy and
 * nothing spins (depth 16: 19-26 sockets per turn); spinning after every turn cost 11-23% more sidecar CPU
 * at 50 connections, and after every single light turn 13.5 instead of 12.0 us per request at depth 1.
 *
 * A spin ends --spin-us after the last work it saw, and that last stretch is waste. With dense traffic (the
 * one-connection closed loop) a spin runs through many requests and wastes one stretch at the end; with
 * sparse traffic (requests further apart than the spin) every request would cost a whole stretch: up to
 * a core at 1 / --spin-us requests per second. So spinning follows its own record, the average share of
 * each spin's time that was that final stretch, and above half it spins only on one light turn in
 * SPIN_PROBE_EVERY, to notice when traffic is dense again: sparse traffic then costs at most
 * --spin-us / SPIN_PROBE_EVERY per light turn.
 */
export interface Flushable {
  /** True while marked; cleared by flush(). */
  marked: boolean;
  flush(): void;
}

let upstreams: Flushable[] = [];
let clients: Flushable[] = [];
let nextTurn: Flushable[] = [];
let scheduled = false;
/** Spinning: how long after the last light turn (ms; 0: never), when that was, and whether a spin is running. */
let spinMs = 0;
let lastLight = 0;
let spinning = false;
const SPIN_LIGHT_FLUSHES = 2;
let flushAverage = 0;
const SPIN_WASTE_MAX = 0.5;
const SPIN_PROBE_EVERY = 16;
let lightTurnsUnspun = 0;
let spinStarted = 0;
/**
 * Spins started, and the average (weight 1/4) over spins of the share of their time that was the final,
 * idle stretch (exported for tests).
 */
export const spinStats = { started: 0, waste: 0 };

/** Sets the spin time (--spin-us); 0 turns spinning off. */
export function setSpin(us: number): void {
  spinMs = us / 1000;
}

function spin(): void {
  if (performance.now() - lastLight < spinMs) {
    setImmediate(spin);
    return;
  }
  spinning = false;
  const total = performance.now() - spinStarted;
  const share = total > 0 ? Math.min(1, spinMs / total) : 1;
  spinStats.waste += (share - spinStats.waste) * 0.25;
}

function schedule(): void {
  if (!scheduled) {
    scheduled = true;
    setImmediate(runBatch);
  }
}

/** An upstream connection has requests to write. */
export function markUpstream(f: Flushable): void {
  if (f.marked) return;
  f.marked = true;
  upstreams.push(f);
  schedule();
}

/** A client connection has replies to write. */
export function mark(f: Flushable): void {
  if (f.marked) return;
  f.marked = true;
  clients.push(f);
  schedule();
}

/** Flushed in the next turn, not this one (it stays marked meanwhile, so mark() in between is a no-op). */
export function markNextTurn(f: Flushable): void {
  f.marked = true;
  nextTurn.push(f);
  schedule();
}

function flushEach(list: Flushable[]): void {
  for (let i = 0; i < list.length; i++) {
    const f = list[i]!;
    f.marked = false;
    f.flush();
  }
}

/**
 * Flushes everything marked: upstreams, then clients; a client flush can mark upstreams again (a paused client
 * resumes and dispatches what it had buffered), so this repeats until both lists are empty.
 */
export function runBatch(): void {
  scheduled = false;
  if (nextTurn.length > 0) {
    const later = nextTurn;
    nextTurn = [];
    for (let i = 0; i < later.length; i++) clients.push(later[i]!);
  }
  let flushed = 0;
  for (let round = 0; round < 1000 && (upstreams.length > 0 || clients.length > 0); round++) {
    const ups = upstreams;
    upstreams = [];
    flushEach(ups);
    const cs = clients;
    clients = [];
    flushEach(cs);
    flushed += ups.length + cs.length;
  }
  if (upstreams.length > 0 || clients.length > 0) schedule();
  // Light load: few sockets written per turn, on average over the last ~8 turns (one light turn in a busy
  // stretch is not enough: spinning then took CPU from the servers at 50 connections).
  flushAverage += (flushed - flushAverage) * 0.125;
  if (spinMs > 0 && flushAverage <= SPIN_LIGHT_FLUSHES) {
    lastLight = performance.now();
    if (!spinning && (spinStats.waste <= SPIN_WASTE_MAX || ++lightTurnsUnspun >= SPIN_PROBE_EVERY)) {
      lightTurnsUnspun = 0;
      spinning = true;
      spinStarted = lastLight;
      spinStats.started++;
      setImmediate(spin);
    }
  }
}
