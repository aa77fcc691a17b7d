/** Prometheus metrics of the API process (scorer metrics register in the same registry in the all-in-one). */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ApiMetrics {
  ingestItems: Counter<'kind' | 'status' | 'source'>;
  httpDuration: Histogram<'route' | 'method' | 'status'>;
}

export function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vafa_' });
  return registry;
}

export function apiMetrics(registry: Registry): ApiMetrics {
  return {
    ingestItems: new Counter({ name: 'vafa_ingest_items_total', help: 'items received, by kind, outcome and source', labelNames: ['kind', 'status', 'source'], registers: [registry] }),
    httpDuration: new Histogram({ name: 'vafa_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
  };
}
