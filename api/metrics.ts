/**
 * Prometheus metrics of the API process (scorer metrics register in the same registry in the all-in-one).
 *
 * With several ingest processes (`VAFA_INGEST_WORKERS`, app/ingest-cluster.ts) each keeps its own
 * counters; `/metrics`, answered by whichever process the scrape reaches, asks the primary process for
 * the whole: the primary collects every worker's values over IPC, adds its own (the scorer in the
 * all-in-one) and sums them (`aggregateMetrics`), so a counter is the total over the processes.
 */
import { AggregatorRegistry, Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ApiMetrics {
  ingestItems: Counter<'kind' | 'status' | 'source'>;
  httpDuration: Histogram<'route' | 'method' | 'status'>;
}

/** The values of one process's registry, as `Registry.getMetricsAsJSON()` gives them (what travels over IPC). */
export type ProcessMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * A registry whose text exposition (`metrics()`, what `/metrics` serves) is the whole cluster's, fetched
 * by `whole`; `getMetricsAsJSON()` stays this process's own values, which the primary collects.
 */
class ClusterMemberRegistry extends Registry {
  constructor(private readonly whole: () => Promise<string>) {
    super();
  }

  override async metrics(): Promise<string> {
    return await this.whole();
  }
}

/** A registry with the default process metrics; with `whole`, one that serves the cluster's totals (see the top). */
export function createRegistry(whole?: () => Promise<string>): Registry {
  const registry = whole ? new ClusterMemberRegistry(whole) : new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vafa_' });
  return registry;
}

/**
 * Sums the values of several processes into one exposition: counters and histograms add up, gauges
 * follow each metric's own aggregator (prom-client's default metrics say which: sum, max, first…).
 */
export async function aggregateMetrics(parts: readonly ProcessMetrics[]): Promise<string> {
  return await AggregatorRegistry.aggregate([...parts]).metrics();
}

export function apiMetrics(registry: Registry): ApiMetrics {
  return {
    ingestItems: new Counter({ name: 'vafa_ingest_items_total', help: 'items received, by kind, outcome and source', labelNames: ['kind', 'status', 'source'], registers: [registry] }),
    httpDuration: new Histogram({ name: 'vafa_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] }),
  };
}
