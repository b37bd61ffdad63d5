import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ConfigSchema } from '../../apps/node/src/config.ts';
import { NodeMetrics } from '../../apps/node/src/metrics.ts';
import { EnvSchema } from '../../apps/origin/src/config.ts';

/*
 * Loaders for the infra manifests and for the code they must agree with
 * (config schemas, metric registry), shared by the infra tests.
 */

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const INFRA = path.join(ROOT, 'infra');

export function read(rel: string): string {
  return readFileSync(path.join(ROOT, rel), 'utf8');
}

/** Every file under infra/, repo-relative, sorted. */
export function infraFiles(dir = INFRA): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    // Build output (tsc -b) is not a file anyone edits.
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.endsWith('.tsbuildinfo')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...infraFiles(p));
    else out.push(path.relative(ROOT, p));
  }
  return out.sort();
}

/** All documents of a YAML file as plain JS; throws on any parse error or warning. */
export function yamlDocs(rel: string): unknown[] {
  const docs = parseAllDocuments(read(rel), { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  return list.map((d) => {
    const problems = [...d.errors, ...d.warnings];
    if (problems.length > 0) throw new Error(`${rel}: ${problems.map((p) => p.message).join('; ')}`);
    return d.toJS({ maxAliasCount: 1000 });
  });
}

/** A parsed manifest: walked loosely, the assertions say what must be where. */
// biome-ignore lint/suspicious/noExplicitAny: free-form YAML/JSON documents
export type Manifest = Record<string, any>;

export function yamlDoc<T = Manifest>(rel: string): T {
  const [doc] = yamlDocs(rel);
  return doc as T;
}

/** Keys of a zod object schema behind refinements/transforms (zod 4: pipe.in). */
function schemaKeys(schema: unknown): Set<string> {
  let s = schema as { shape?: Record<string, unknown>; in?: unknown };
  for (let i = 0; i < 5 && !s.shape && s.in; i++) s = s.in as typeof s;
  if (!s.shape) throw new Error('config schema has no object shape any more: update infra/test/manifests.ts');
  return new Set(Object.keys(s.shape));
}

export const NODE_VARS = schemaKeys(ConfigSchema);
export const ORIGIN_VARS = schemaKeys(EnvSchema);
/** Variables the images set for the runtime itself, not read by the apps' schemas. */
export const RUNTIME_VARS = new Set(['MEDIASOUP_WORKER_BIN', 'NODE_ENV', 'DEBUG']);

export function parseNodeEnv(env: Record<string, string>) {
  return ConfigSchema.safeParse(env);
}
export function parseOriginEnv(env: Record<string, string>) {
  return EnvSchema.safeParse(env);
}

/** KEY=VALUE lines of an env file (comments and blanks skipped). */
export function envFile(rel: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of read(rel).split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

/** Compose-style interpolation: ${VAR}, ${VAR:?msg}, ${VAR:-default}, $$ → $. */
export function interpolate(value: string, vars: Record<string, string>): string {
  return value
    .replace(/\$\{([A-Z0-9_]+)(?::?[?-][^}]*)?\}/g, (_m, name: string) => {
      const v = vars[name];
      if (v === undefined) throw new Error(`\${${name}} is not defined in infra/compose/.env.example`);
      return v;
    })
    .replace(/\$\$/g, '$');
}

/**
 * Names of the series a node really exports: the NodeMetrics class of
 * apps/node/src/metrics.ts, instantiated over empty stand-ins of the live
 * objects its collectors read, then scraped.
 */
export async function exportedMetricNames(): Promise<Set<string>> {
  const media = {
    streams: new Map(),
    whip: new Map(),
    whep: new Map(),
    reconnects: new Map(),
    pool: {
      census: { snapshot: () => ({}) },
      egress: { totalBytes: {}, bitrateOut: 0 },
      cpuSeconds: async () => 0,
      // One worker, so the per-worker series (labelled `worker`) exist in the scrape.
      workerCpuSeconds: async () => new Map([[{ index: 0 }, 0]]),
      workerLoads: () => [{ index: 0, pid: 1, sources: 0, viewers: 0, capacity: 200, cpu: 0 }],
    },
  };
  const metrics = new NodeMetrics(media as never, { peers: new Set() } as never, () => undefined, {
    node: 'test',
    region: 'test',
  });
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

/** Metric names NodeMetrics defines itself (not prom-client's default process metrics). */
export function ownMetricNames(all: Set<string>): string[] {
  return [...all].filter((n) => n.startsWith('mm_') && !n.startsWith('mm_process_'));
}

export function mmMetricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bmm_[a-z0-9_]+\b/g)].map((m) => m[0]);
}
export function recordedIn(expr: string): string[] {
  return [...expr.matchAll(/\bmatchmesh:[a-z0-9_:]+[a-z0-9_]\b/g)].map((m) => m[0]);
}

/** Every `expr` string anywhere inside a Grafana dashboard. */
export function dashboardExprs(dashboard: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'expr' && typeof x === 'string') out.push(x);
        else if (k === 'query' && typeof x === 'string') out.push(x);
        else walk(x);
      }
    }
  };
  walk(dashboard);
  return out;
}

export interface Range {
  owner: string;
  from: number;
  to: number;
}

/** First pair of overlapping ranges, or undefined. */
export function overlap(ranges: Range[]): [Range, Range] | undefined {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as Range;
    const b = sorted[i] as Range;
    if (b.from <= a.to) return [a, b];
  }
  return undefined;
}
