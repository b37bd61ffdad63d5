import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './latency-proxy.ts';

/** A real Prometheus (Debian's `prometheus`) scraping given nodes, on a free loopback port. */
export interface PrometheusServer {
  url: string;
  /** An instant PromQL query through the HTTP API: each series' labels and value. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Start Prometheus with one job scraping `targets` (host:port) every second at
 * /metrics, with `bearer` as its token (the node's /metrics needs an admin
 * token, as in infra/prometheus/prometheus.yml). Resolves when it says it is
 * ready to serve queries.
 */
export async function startPrometheus(targets: string[], bearer: string): Promise<PrometheusServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mm-prometheus-'));
  writeFileSync(path.join(dir, 'token'), bearer);
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: matchmesh',
      '    metrics_path: /metrics',
      `    authorization: { credentials_file: ${JSON.stringify(path.join(dir, 'token'))} }`,
      `    static_configs: [{ targets: ${JSON.stringify(targets)} }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=info',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const exited = once(child, 'exit');
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer): void => {
      out += b.toString();
      if (out.includes('Server is ready to receive web requests')) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => reject(new Error(`prometheus did not start (is it installed?): ${err.message}`)));
    void exited.then(([code]) => reject(new Error(`prometheus exited (${code}) before it was ready:\n${out}`)));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (err) {
    await stop();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    output: () => out,
    stop,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
      };
      if (body.status !== 'success') throw new Error(`PromQL ${promql}: ${body.error ?? res.status}`);
      return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}
