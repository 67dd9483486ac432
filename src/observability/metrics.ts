/**
 * Prometheus metrics (prom-client), one registry per gateway (several gateways can share a process in tests).
 * Every state change is an event in a committed unit, so counting committed events by type measures the whole
 * pipeline (accepted, submitted, submit-retry, report-received, report-delivered, report-attempt-failed, ...) from
 * one place, without instrumenting each step.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WriteUnit } from '../store/store.ts';

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'route'>;
  private readonly events: Counter<'type'>;
  /** Per event type, the labelled counter (prom-client hashes a label object on every inc otherwise). */
  private readonly eventChildren = new Map<string, { inc(): void }>();
  private readonly commitBatches: Counter;

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'mmsgate_' });
    this.httpRequests = new Counter({
      name: 'mmsgate_http_requests_total',
      help: 'HTTP requests answered, by route and status.',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'mmsgate_http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by route.',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.events = new Counter({
      name: 'mmsgate_message_events_total',
      help: 'Committed message events (state changes and attempts), by type.',
      labelNames: ['type'],
      registers: [this.registry],
    });
    this.commitBatches = new Counter({
      name: 'mmsgate_committed_units_total',
      help: 'Units of work committed to the store.',
      registers: [this.registry],
    });
  }

  /** Label-bound children per (method, route, status): a map lookup per request instead of label hashing. */
  private readonly requestChildren = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();

  /** Record an answered request. `route` is the route pattern (never the raw URL: bounded label values). */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let c = this.requestChildren.get(key);
    if (!c) {
      c = { count: this.httpRequests.labels({ method, route, status: String(status) }), time: this.httpDuration.labels({ route }) };
      this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.time.observe(seconds);
  }

  /** Count a committed unit's events. */
  observeCommitted(unit: WriteUnit): void {
    this.commitBatches.inc();
    if (!unit.events) return;
    for (const e of unit.events) {
      let c = this.eventChildren.get(e.type);
      if (!c) this.eventChildren.set(e.type, (c = this.events.labels({ type: e.type })));
      c.inc();
    }
  }

  /** Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
