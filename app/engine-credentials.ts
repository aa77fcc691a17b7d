/**
 * The engines' credentials check behind `vafa ingest` and `vafa scorer` (docs/security.md): a role that
 * joins a deployment refuses to reach a NATS server or a ClickHouse off this machine without credentials
 * (customer data and the points ledger would cross the network to an engine anyone could also reach),
 * unless `--insecure` says that is intended. Loopback needs none: the all-in-one's engines listen there.
 */
import type { Settings } from '../config/mod.js';

type EngineSettings = Pick<Settings, 'natsUrl' | 'natsUser' | 'natsToken' | 'natsCreds' | 'natsNkey' | 'clickhouseUrl' | 'clickhousePassword'>;

/** 127.0.0.0/8, ::1, localhost (and *.localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '0:0:0:0:0:0:0:1';
}

function parse(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with reaching the configured engines without credentials: one message per engine, naming
 * the settings to set; empty when every external engine is on loopback or has credentials.
 */
export function insecureEngines(s: EngineSettings): string[] {
  const problems: string[] = [];
  if (s.natsUrl) {
    const servers = s.natsUrl.split(',').map((u) => u.trim()).filter(Boolean);
    const hasSettings = Boolean(s.natsUser || s.natsToken || s.natsCreds || s.natsNkey);
    const remote = servers.map(parse).filter((u) => !u || !isLoopbackHost(u.hostname));
    const inUrl = remote.length > 0 && remote.every((u) => u && u.username !== '');
    if (remote.length > 0 && !hasSettings && !inUrl) {
      const hosts = remote.map((u) => u?.host ?? '?').join(', ');
      problems.push(`NATS_URL reaches ${hosts} (not loopback) without credentials: set NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY`);
    }
  }
  if (s.clickhouseUrl) {
    const u = parse(s.clickhouseUrl);
    const remote = !u || !isLoopbackHost(u.hostname);
    if (remote && !s.clickhousePassword && !(u && u.password)) {
      problems.push(`CLICKHOUSE_URL reaches ${u?.host ?? '?'} (not loopback) without credentials: set CLICKHOUSE_USER and CLICKHOUSE_PASSWORD`);
    }
  }
  return problems;
}
