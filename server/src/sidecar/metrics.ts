/**
 * The sidecar's Prometheus metrics and its HTTP port: /metrics, /healthz (the process answers) and /readyz
 * (a ring is loaded). Per-upstream series are bound once per address (prom-client children), so the request
 * path only increments and observes.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamObserver } from './upstream.js';
import type { SidecarStats } from './stats.js';

/** Seconds: from 50 µs (a loopback round trip) to the largest request timeout worth distinguishing. */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class SidecarMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'upstream'>;
  private readonly errors: Counter<'upstream' | 'reason'>;
  private readonly latency: Histogram<'upstream'>;
  private readonly ejections: Counter<'upstream'>;
  private readonly ejectedGauge: Gauge<'upstream'>;
  private readonly ringVersion: Gauge;
  private readonly ringMembers: Gauge<'state'>;
  readonly ringReloads: Counter<'result'>;

  constructor(stats: SidecarStats) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'cachalot_sidecar_upstream_requests_total', help: 'Requests sent to each upstream server.', labelNames: ['upstream'], registers });
    this.errors = new Counter({ name: 'cachalot_sidecar_upstream_errors_total', help: 'Upstream failures by reason (timeout, connect, closed, protocol).', labelNames: ['upstream', 'reason'], registers });
    this.latency = new Histogram({ name: 'cachalot_sidecar_upstream_request_duration_seconds', help: 'Time from sending a request to an upstream to its reply.', labelNames: ['upstream'], buckets: LATENCY_BUCKETS, registers });
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
      name: 'cachalot_sidecar_unrouted_total', help: 'Keys answered without a server (no ring, or owner ejected under the miss policy).', registers,
      collect() {
        this.reset();
        this.inc(stats.unrouted);
      },
    });
  }

  observer(upstream: string): UpstreamObserver {
    const requests = this.requests.labels(upstream);
    const latency = this.latency.labels(upstream);
    const errors = this.errors;
    const ejections = this.ejections.labels(upstream);
    const ejected = this.ejectedGauge.labels(upstream);
    ejected.set(0);
    return {
      request: () => requests.inc(),
      replied: (ms: number) => latency.observe(ms / 1000),
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
