/**
 * The sidecar's Prometheus metrics and its HTTP port: /metrics, /healthz (the process answers) and /readyz
 * (a ring is loaded). The per-request series (requests and the latency histogram per upstream) are plain
 * numbers in a per-upstream object, turned into Prometheus text only at scrape time: a CPU profile under
 * pipelined load showed prom-client's Counter.inc and Histogram.observe at 6.5% of the sidecar's time.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { UpstreamObserver } from './upstream/upstream.js';
import type { SidecarStats } from './sidecar-stats.js';

/** Seconds: from 50 µs (a loopback round trip) to the largest request timeout worth distinguishing. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class SidecarMetrics {
  readonly registry = new Registry();
  private readonly perUpstream = new Map<string, UpstreamSeries>();
  private readonly errors: Counter<'upstream' | 'reason'>;
  private readonly ejections: Counter<'upstream'>;
  private readonly ejectedGauge: Gauge<'upstream'>;
  private readonly ringVersion: Gauge;
  private readonly ringMembers: Gauge<'state'>;
  readonly ringReloads: Counter<'result'>;

  constructor(stats: SidecarStats) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const series = this.perUpstream;
    new Counter({
      name: 'cachalot_sidecar_upstream_requests_total', help: 'Requests sent to each upstream server.', labelNames: ['upstream'], registers,
      collect() {
        this.reset();
        for (const [upstream, s] of series) this.inc({ upstream }, s.requests);
      },
    });
    this.registry.registerMetric(new LatencyHistogram(series) as unknown as Metric);
    this.errors = new Counter({ name: 'cachalot_sidecar_upstream_errors_total', help: 'Upstream failures by reason (timeout, connect, closed, protocol).', labelNames: ['upstream', 'reason'], registers });
    this.ejections = new Counter({ name: 'cachalot_sidecar_upstream_ejections_total', help: 'Times each upstream was ejected after consecutive failures.', labelNames: ['upstream'], registers });
    this.ejectedGauge = new Gauge({ name: 'cachalot_sidecar_upstream_ejected', help: '1 while the upstream is ejected.', labelNames: ['upstream'], registers });
    this.ringVersion = new Gauge({ name: 'cachalot_sidecar_ring_version', help: 'Version of the ring in use.', registers });
    this.ringMembers = new Gauge({ name: 'cachalot_sidecar_ring_members', help: 'Members of the ring in use, by state.', labelNames: ['state'], registers });
    this.ringReloads = new Counter({ name: 'cachalot_sidecar_ring_reloads_total', help: 'Ring documents read, by result (applied, unchanged, invalid).', labelNames: ['result'], registers });
    new Gauge({ name: 'cachalot_sidecar_client_connections', help: 'Open client connections.', registers, collect() { this.set(stats.curr_connections); } });
    new Counter({
      name: 'cachalot_sidecar_commands_total', help: 'Client commands by kind (get counts keys).', labelNames: ['command'], registers,
      collect() {
        this.reset();
        this.inc({ command: 'get' }, stats.cmd_get);
        this.inc({ command: 'set' }, stats.cmd_set);
        this.inc({ command: 'touch' }, stats.cmd_touch);
        this.inc({ command: 'flush' }, stats.cmd_flush);
        this.inc({ command: 'meta' }, stats.cmd_meta);
      },
    });
    new Counter({
      name: 'cachalot_sidecar_auth_commands_total', help: 'Authentication attempts on the listener (--listen-auth-file; stats auth_cmds).', registers,
      collect() {
        this.reset();
        this.inc(stats.auth_cmds);
      },
    });
    new Counter({
      name: 'cachalot_sidecar_auth_errors_total', help: 'Authentication attempts on the listener that were refused (stats auth_errors).', registers,
      collect() {
        this.reset();
        this.inc(stats.auth_errors);
      },
    });
    new Counter({
      name: 'cachalot_sidecar_unrouted_total', help: 'Keys answered without a server (no ring, or owner ejected under the miss policy).', registers,
      collect() {
        this.reset();
        this.inc(stats.unrouted);
      },
    });
  }

  observer(upstream: string): UpstreamObserver {
    let s = this.perUpstream.get(upstream);
    if (s === undefined) {
      s = new UpstreamSeries();
      this.perUpstream.set(upstream, s);
    }
    const series = s;
    const errors = this.errors;
    const ejections = this.ejections.labels(upstream);
    const ejected = this.ejectedGauge.labels(upstream);
    ejected.set(0);
    return {
      request: () => {
        series.requests++;
      },
      replied: (ms: number) => series.observe(ms / 1000),
      failed: (reason: string) => errors.inc({ upstream, reason }),
      ejected: (on: boolean) => {
        if (on) ejections.inc();
        ejected.set(on ? 1 : 0);
      },
    };
  }

  ring(version: number, active: number, draining: number): void {
    this.ringVersion.set(version);
    this.ringMembers.set({ state: 'active' }, active);
    this.ringMembers.set({ state: 'draining' }, draining);
  }
}

class UpstreamSeries {
  requests = 0;
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** A Prometheus histogram rendered from UpstreamSeries at scrape time (prom-client's metric interface). */
class LatencyHistogram {
  readonly name = 'cachalot_sidecar_upstream_request_duration_seconds';
  readonly help = 'Time from reading a request (the read event it came in) to reading its upstream reply.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  constructor(private readonly series: Map<string, UpstreamSeries>) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> } {
    const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
    for (const [upstream, s] of this.series) {
      let cumulative = 0;
      for (let i = 0; i <= LATENCY_BUCKETS.length; i++) {
        cumulative += s.buckets[i]!;
        const le = i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : '+Inf';
        values.push({ value: cumulative, labels: { le, upstream }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: s.sum, labels: { upstream }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { upstream }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** Serves the registry; resolves with the bound port. */
export function serveMetrics(metrics: SidecarMetrics, host: string, port: number, ready: () => boolean): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      }, (err: unknown) => {
        res.writeHead(500);
        res.end(String(err));
      });
    } else if (path === '/healthz') {
      res.writeHead(200);
      res.end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503);
      res.end(ok ? 'ready\n' : 'no ring loaded\n');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      resolve({ server, port: addr && typeof addr === 'object' ? addr.port : port });
    });
  });
}
