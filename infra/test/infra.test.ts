import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { WORKER_CPU_SATURATED } from '@matchmesh/cluster';
import { describe, expect, it } from 'vitest';
import {
  dashboardExprs,
  envFile,
  exportedMetricNames,
  infraFiles,
  interpolate,
  type Manifest,
  mmMetricsIn,
  NODE_VARS,
  ORIGIN_VARS,
  overlap,
  ownMetricNames,
  parseNodeEnv,
  parseOriginEnv,
  type Range,
  ROOT,
  RUNTIME_VARS,
  read,
  recordedIn,
  yamlDoc,
  yamlDocs,
} from './manifests.ts';

/*
 * The deployment files cannot be run here (no container registry), so this
 * test keeps them honest against the code: every file parses, every variable
 * is one the node / origin schemas know and the values pass those schemas,
 * every metric a dashboard or alert reads is one the node exports, and the
 * port plan, probes, drain hook and image build agree with the sources.
 */

const COMPOSE = 'infra/compose/docker-compose.yml';
const RULES = 'infra/prometheus/rules/matchmesh.yml';
const DASHBOARD = 'infra/grafana/dashboards/matchmesh.json';
const K8S = 'infra/k8s';

type Service = {
  image?: string;
  environment?: Record<string, string>;
  network_mode?: string;
  command?: string[] | string;
};
const compose = yamlDoc<{ services: Record<string, Service>; volumes: Record<string, unknown> }>(COMPOSE);
const exampleEnv = envFile('infra/compose/.env.example');
const composeEnv = (svc: Service): Record<string, string> =>
  Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), exampleEnv)]));
const nodeServices = Object.entries(compose.services).filter(
  ([, s]) => s.image?.startsWith('matchmesh/node') && s.environment?.MM_ROLES,
);
const originServices = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('matchmesh/origin'));

const k8sDocs = infraFiles()
  .filter((f) => f.startsWith(`${K8S}/`) && f.endsWith('.yaml') && !f.endsWith('kustomization.yaml'))
  .flatMap((f) => yamlDocs(f).map((d) => ({ file: f, doc: d as Manifest })));
const ofKind = (kind: string) => k8sDocs.filter((d) => d.doc.kind === kind);
const nodeSets = ofKind('StatefulSet').filter(
  (d) => d.doc.metadata.labels?.['app.kubernetes.io/name'] === 'matchmesh-node',
);
const configMap = ofKind('ConfigMap').find((d) => d.doc.metadata.name === 'matchmesh-config')?.doc.data as Record<
  string,
  string
>;

const unknownVars = (keys: Iterable<string>, known: Set<string>) =>
  [...keys].filter((k) => !known.has(k) && !RUNTIME_VARS.has(k));

describe('infra files parse', () => {
  it('every YAML and JSON file under infra/ parses without errors or warnings', () => {
    const files = infraFiles().filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(15);
    for (const f of files) {
      if (f.endsWith('.json')) expect(() => JSON.parse(read(f)), f).not.toThrow();
      else expect(yamlDocs(f).length, f).toBeGreaterThan(0);
    }
  });

  it('kustomization lists files that exist and every k8s object is namespaced to matchmesh', () => {
    const k = yamlDoc<{ resources: string[] }>(`${K8S}/kustomization.yaml`);
    for (const r of k.resources) expect(existsSync(path.join(ROOT, K8S, r)), r).toBe(true);
    for (const { file, doc } of k8sDocs) {
      if (doc.kind !== 'Namespace') expect(doc.metadata.namespace, `${file} ${doc.kind}`).toBe('matchmesh');
    }
  });
});

describe('configuration variables', () => {
  it('every MM_* word anywhere in infra/ is a variable some program reads', () => {
    const cliVars = new Set(
      ['apps/cli/src/cli.ts', 'apps/cli/src/tokens.ts'].flatMap((f) =>
        [...read(f).matchAll(/\b(MM_[A-Z0-9_]+)\b/g)].map((m) => m[1] as string),
      ),
    );
    const drainVars = new Set(
      [...read('infra/docker/drain.ts').matchAll(/env\.(MM_[A-Z0-9_]+)/g)].map((m) => m[1] as string),
    );
    // Compose-only inputs: interpolated into the services' variables, never read by a program.
    const composeInputs = new Set(Object.keys(exampleEnv));
    const known = new Set([
      ...NODE_VARS,
      ...ORIGIN_VARS,
      ...cliVars,
      ...drainVars,
      ...composeInputs,
      'MM_IMAGE_WORKER_BIN',
    ]);
    const stray: string[] = [];
    for (const f of infraFiles().filter((f) => !f.startsWith('infra/test/'))) {
      for (const m of read(f).matchAll(/\b(MM_[A-Z0-9_]+)\b/g))
        if (!known.has(m[1] as string)) stray.push(`${f}: ${m[1]}`);
    }
    expect(stray).toEqual([]);
  });

  it('compose: node services only set variables of apps/node/src/config.ts, and the values pass its schema', () => {
    expect(nodeServices.map(([n]) => n).sort()).toEqual(['ingest-eu-1', 'relay-asia-1', 'relay-eu-1', 'relay-eu-2']);
    for (const [name, svc] of nodeServices) {
      const env = composeEnv(svc);
      expect(unknownVars(Object.keys(env), NODE_VARS), name).toEqual([]);
      const parsed = parseNodeEnv(env);
      expect(parsed.error?.issues ?? [], name).toEqual([]);
      expect(svc.network_mode, name).toBe('host');
    }
  });

  it('compose: the origin agent only sets variables of apps/origin/src/config.ts, and they pass its schema', () => {
    expect(originServices.length).toBe(1);
    for (const [name, svc] of originServices) {
      const env = composeEnv(svc);
      expect(unknownVars(Object.keys(env), ORIGIN_VARS), name).toEqual([]);
      // The token is read from the tokens volume by the entrypoint.
      expect(String(svc.command)).toContain('MM_PUBLISH_TOKEN=');
      const parsed = parseOriginEnv({ ...env, MM_PUBLISH_TOKEN: 'x' });
      expect(parsed.error?.issues ?? [], name).toEqual([]);
    }
  });

  it('compose: .env.example holds placeholders only, and .env is git-ignored', () => {
    for (const [k, v] of Object.entries(exampleEnv)) {
      if (/SECRET|PASSWORD/.test(k)) expect(v, k).toMatch(/^change-me/);
    }
    expect(read('infra/compose/.gitignore').split('\n')).toContain('.env');
  });

  it('k8s: node pods only get variables the node schema knows, and the values pass it', () => {
    expect(nodeSets.map((d) => d.doc.metadata.name).sort()).toEqual(['ingest-eu', 'relay-asia', 'relay-eu']);
    const secrets = Object.fromEntries(
      ofKind('Secret').map((d) => [d.doc.metadata.name, d.doc.stringData as Record<string, string>]),
    );
    for (const { doc } of nodeSets) {
      const [c] = doc.spec.template.spec.containers;
      const env: Record<string, string> = {};
      for (const from of c.envFrom) {
        if (from.configMapRef) {
          expect(from.configMapRef.name).toBe('matchmesh-config');
          Object.assign(env, configMap);
        } else {
          const data = secrets[from.secretRef.name];
          expect(data, from.secretRef.name).toBeDefined();
          // The template's values are empty on purpose; stand-ins of a valid length.
          for (const k of Object.keys(data ?? {}))
            env[k] = k === 'REDIS_URL' ? 'redis://:pw@redis:6379' : 'x'.repeat(32);
        }
      }
      for (const e of c.env) {
        env[e.name] =
          e.value !== undefined
            ? String(e.value).replace(/\$\((\w+)\)/g, (_m, v: string) => env[v] ?? '')
            : e.valueFrom.fieldRef.fieldPath === 'status.hostIP'
              ? '198.51.100.7'
              : `${doc.metadata.name}-0`;
      }
      expect(
        // POD_NAME: the pod's name, only there to build MM_PUBLIC_URL.
        unknownVars(
          Object.keys(env).filter((k) => k !== 'MM_DRAIN_TIMEOUT_S' && k !== 'POD_NAME'),
          NODE_VARS,
        ),
        doc.metadata.name,
      ).toEqual([]);
      const parsed = parseNodeEnv(env);
      expect(parsed.error?.issues ?? [], doc.metadata.name).toEqual([]);
      expect(parsed.data?.MM_PUBLIC_URL).toBe(`https://${doc.metadata.name}-0.matchmesh.example.com`);
    }
  });
});

describe('metrics used by Grafana and Prometheus exist', () => {
  const rules = yamlDoc<{ groups: { rules: { record?: string; alert?: string; expr: string }[] }[] }>(RULES);
  const ruleList = rules.groups.flatMap((g) => g.rules);
  const recorded = new Set(ruleList.flatMap((r) => (r.record ? [r.record] : [])));
  const exprs = dashboardExprs(JSON.parse(read(DASHBOARD)));

  it('every mm_* metric in the rules and the dashboard is exported by NodeMetrics (apps/node/src/metrics.ts)', async () => {
    const exported = await exportedMetricNames();
    const used = [...ruleList.map((r) => r.expr), ...exprs].flatMap(mmMetricsIn);
    expect(used.length).toBeGreaterThan(20);
    expect([...new Set(used)].filter((n) => !exported.has(n))).toEqual([]);
  });

  it('every recorded series the rules and dashboard read is recorded by a rule', () => {
    const read_ = [...ruleList.map((r) => r.expr), ...exprs].flatMap(recordedIn);
    expect(read_.length).toBeGreaterThan(0);
    expect([...new Set(read_)].filter((n) => !recorded.has(n))).toEqual([]);
  });

  it('the dashboard shows every metric NodeMetrics defines (a new metric needs a panel)', async () => {
    const shown = new Set(exprs.flatMap(mmMetricsIn));
    const own = ownMetricNames(await exportedMetricNames());
    expect(own.length).toBeGreaterThanOrEqual(10);
    expect(own.filter((n) => !shown.has(n))).toEqual([]);
  });

  it('the alerts the deployment promises exist', () => {
    const alerts = ruleList.flatMap((r) => (r.alert ? [r.alert] : []));
    for (const a of [
      'MatchmeshNodeDown',
      'MatchmeshRedisUnreachable',
      'MatchmeshWorkerCpuHigh',
      'MatchmeshViewersNearCapacity',
      'MatchmeshEgressCostHigh',
    ]) {
      expect(alerts).toContain(a);
    }
  });

  it('the figures written into the rules match the nodes’ settings in compose and k8s', () => {
    const text = read(RULES);
    const settings = [...nodeServices.map(([, s]) => composeEnv(s)), configMap];
    for (const env of settings) {
      expect(text).toContain(`0.9 * ${env.MM_CAPACITY_VIEWERS}`);
    }
  });

  it('the egress cost rule prices priced bytes with the price the nodes export, not a number', () => {
    const cost = ruleList.find((r) => r.record === 'matchmesh:egress_usd_per_hour:sum');
    expect(cost?.expr.replace(/\s+/g, ' ')).toBe(
      'sum by (node, region) (matchmesh:cost_bytes:rate5m) * 3600 / 1e9 * on (node, region) max by (node, region) (mm_region_usd_per_gb)',
    );
    const bytes = ruleList.find((r) => r.record === 'matchmesh:cost_bytes:rate5m');
    expect(bytes?.expr).toBe('sum by (node, region, carrier) (rate(mm_cost_bytes[5m]))');
    // No price is written into any rule any more.
    expect(read(RULES)).not.toMatch(/1e9 \* 0\.\d/);
  });

  it('the worker CPU alert fires on any one worker, at placement’s saturation threshold', () => {
    const alert = ruleList.find((r) => r.alert === 'MatchmeshWorkerCpuHigh');
    const perWorker = ruleList.find((r) => r.record === 'matchmesh:worker_cpu:rate1m');
    // Per worker: the series keeps the `worker` label (not summed over a node's workers)...
    expect(perWorker?.expr).toMatch(/by \(node, region, worker\) \(rate\(mm_worker_cpu_seconds\[1m\]\)\)/);
    // ...and the alert compares each worker with the threshold placement uses, not a node total.
    expect(alert?.expr).toBe(`matchmesh:worker_cpu:rate1m > ${WORKER_CPU_SATURATED}`);
  });

  it('Prometheus scrapes every compose node with the metrics-role token file the tokens job writes', () => {
    const prom = yamlDoc(`infra/prometheus/prometheus.yml`);
    const job = prom.scrape_configs.find((j: { job_name: string }) => j.job_name === 'matchmesh-node');
    expect(job.authorization).toEqual({ type: 'Bearer', credentials_file: '/tokens/prometheus.jwt' });
    const targets = job.static_configs.flatMap((s: { targets: string[] }) => s.targets).sort();
    const ports = nodeServices.map(([, s]) => `127.0.0.1:${composeEnv(s).MM_HTTP_PORT}`).sort();
    expect(targets).toEqual(ports);
    expect(String(compose.services.tokens?.command)).toContain(
      '--role metrics --ttl 365d --sub prometheus > /var/lib/matchmesh/tokens/prometheus.jwt',
    );
  });
});

describe('https in front of the nodes (issue 16 item 6)', () => {
  const caddyfile = read('infra/caddy/Caddyfile');
  /** Caddyfile site → the port it proxies to. */
  const sites = new Map(
    [...caddyfile.matchAll(/^([\w-]+)\.\{\$MM_DOMAIN\} \{\n\timport node 127\.0\.0\.1:(\d+)\n\}/gm)].map((m) => [
      m[1]!,
      Number(m[2]),
    ]),
  );

  it('compose: every node is https://<node>.MM_DOMAIN, a Caddy site proxying to its loopback HTTP port', () => {
    expect(nodeServices.length).toBeGreaterThanOrEqual(4);
    for (const [name, svc] of nodeServices) {
      const c = parseNodeEnv(composeEnv(svc)).data!;
      expect(svc.environment?.MM_PUBLIC_URL, name).toBe(`https://${name}.\${MM_DOMAIN}`);
      expect(sites.get(name), name).toBe(c.MM_HTTP_PORT);
      expect(c.MM_HTTP_HOST, name).toBe('127.0.0.1');
    }
    expect(sites.size).toBe(nodeServices.length);
    const caddy = compose.services.caddy as Service & { volumes?: string[] };
    expect(caddy?.network_mode).toBe('host');
    expect(caddy?.volumes).toContain('../caddy/Caddyfile:/etc/caddy/Caddyfile:ro');
    expect(Object.keys(caddy?.environment ?? {}).sort()).toEqual(['ACME_EMAIL', 'MM_DOMAIN']);
    expect(exampleEnv.MM_DOMAIN).toBeDefined();
  });

  it('k8s: each node pod has its own https host (a Service, an Ingress rule, a TLS name) and region entries', () => {
    const [ingress] = ofKind('Ingress');
    expect(ingress?.doc.metadata.annotations['cert-manager.io/cluster-issuer']).toBe('letsencrypt');
    const hosts: string[] = ingress!.doc.spec.tls.flatMap((t: { hosts: string[] }) => t.hosts);
    const rules = new Map<string, string>(
      ingress!.doc.spec.rules.map(
        (r: { host: string; http: { paths: { backend: { service: { name: string } } }[] } }) => [
          r.host,
          r.http.paths[0]!.backend.service.name,
        ],
      ),
    );
    const services = new Set(ofKind('Service').map((d) => d.doc.metadata.name as string));
    for (const { doc } of nodeSets) {
      // An autoscaled set may grow to its ScaledObject's maxReplicaCount: every such pod needs its name.
      const scaled = ofKind('ScaledObject').find((o) => o.doc.spec.scaleTargetRef.name === doc.metadata.name);
      const pods = Math.max(doc.spec.replicas, scaled?.doc.spec.maxReplicaCount ?? 0);
      for (let i = 0; i < pods; i++) {
        const pod = `${doc.metadata.name}-${i}`;
        const host = `${pod}.matchmesh.example.com`;
        expect(hosts, host).toContain(host);
        expect(rules.get(host), host).toBe(pod);
        expect(services.has(pod), pod).toBe(true);
      }
    }
    for (const region of ['eu', 'asia']) expect(rules.get(`${region}.matchmesh.example.com`)).toBe(`relay-${region}`);
  });
});

describe('autoscaling (infra/k8s/autoscaling.yaml)', () => {
  it('each region’s relays scale on mm_scale_needed_relays of their region, a metric the nodes export', async () => {
    const exported = await exportedMetricNames();
    const relaySets = nodeSets.filter((s) => s.doc.metadata.labels['matchmesh.io/role'] === 'relay');
    expect(relaySets.length).toBeGreaterThanOrEqual(2);
    for (const { doc } of relaySets) {
      const region = doc.metadata.labels['matchmesh.io/region'];
      const scaled = ofKind('ScaledObject').find((o) => o.doc.spec.scaleTargetRef.name === doc.metadata.name);
      expect(scaled, `ScaledObject for ${doc.metadata.name}`).toBeDefined();
      const spec = scaled!.doc.spec;
      expect(spec.scaleTargetRef.kind).toBe(doc.kind);
      // One relay per region whatever the audience; the figure is a replica count (AverageValue, threshold 1).
      expect(spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(spec.maxReplicaCount).toBeGreaterThanOrEqual(doc.spec.replicas);
      const [trigger] = spec.triggers;
      expect(trigger.type).toBe('prometheus');
      expect(trigger.metadata.query).toBe(`max(mm_scale_needed_relays{region="${region}"})`);
      expect(trigger.metadata.threshold).toBe('1');
      for (const m of mmMetricsIn(trigger.metadata.query)) expect(exported.has(m), m).toBe(true);
      // Scale-down: one relay at a time, each drained by its preStop hook within the grace period.
      const down = spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown;
      expect(down.policies).toEqual([expect.objectContaining({ type: 'Pods', value: 1 })]);
    }
  });
});

describe('compose port plan', () => {
  it('nodes, coturn and the loopback services never share a port', () => {
    const ranges: Range[] = [];
    for (const [name, svc] of nodeServices) {
      const c = parseNodeEnv(composeEnv(svc)).data;
      if (!c) throw new Error(name);
      ranges.push({ owner: `${name} http`, from: c.MM_HTTP_PORT, to: c.MM_HTTP_PORT });
      ranges.push({ owner: `${name} webrtc`, from: c.MM_RTC_PORT, to: c.MM_RTC_PORT + c.MM_WORKERS - 1 });
      ranges.push({ owner: `${name} pipes`, from: c.MM_RTC_MIN_PORT, to: c.MM_RTC_MAX_PORT });
    }
    const turn = read('infra/turn/turnserver.conf');
    const conf = (k: string) => Number(new RegExp(`^${k}=(\\d+)`, 'm').exec(turn)?.[1]);
    ranges.push({ owner: 'coturn relays', from: conf('min-port'), to: conf('max-port') });
    // caddy: 80 (ACME) and 443 (https for every node).
    for (const p of [conf('listening-port'), conf('tls-listening-port'), 6390, 9121, 9090, 3000, 8090, 80, 443]) {
      ranges.push({ owner: `fixed ${p}`, from: p, to: p });
    }
    expect(ranges.every((r) => Number.isInteger(r.from) && r.to >= r.from)).toBe(true);
    expect(overlap(ranges)).toBeUndefined();
  });
});

describe('k8s node pods', () => {
  it('hostNetwork, probes on /healthz and /readyz, the drain preStop hook, ports of every worker, a PDB', () => {
    const pdbs = ofKind('PodDisruptionBudget');
    for (const { doc } of nodeSets) {
      const spec = doc.spec.template.spec;
      const [c] = spec.containers;
      const name = doc.metadata.name;
      expect(spec.hostNetwork, name).toBe(true);
      expect(spec.dnsPolicy, name).toBe('ClusterFirstWithHostNet');
      expect(c.livenessProbe.httpGet.path, name).toBe('/healthz');
      expect(c.readinessProbe.httpGet.path, name).toBe('/readyz');
      const hook = c.lifecycle.preStop.exec.command as string[];
      if (doc.metadata.labels['matchmesh.io/role'] === 'relay') {
        // Relays (autoscaled): the CLI's drain, waiting for `empty`, this pod's id, bounded by the drain timeout.
        expect(hook.slice(0, 2), name).toEqual(['sh', '-c']);
        expect(hook[2], name).toMatch(
          /^exec node apps\/cli\/bin\/matchmesh\.js drain "\$MM_NODE_ID" --force --wait --timeout="\$MM_DRAIN_TIMEOUT_S" /,
        );
        expect(existsSync(path.join(ROOT, 'apps/cli/bin/matchmesh.js'))).toBe(true);
      } else {
        // Plain node on the compiled script (no transpiler in the image), built from infra/docker/*.ts.
        expect(hook.slice(0, -1), name).toEqual(['node']);
        const script = /^infra\/dist\/([\w-]+)\.js$/.exec(hook.at(-1) as string)?.[1];
        expect(script && existsSync(path.join(ROOT, `infra/docker/${script}.ts`)), hook.join(' ')).toBe(true);
      }
      const drainS = Number(c.env.find((e: { name: string }) => e.name === 'MM_DRAIN_TIMEOUT_S').value);
      expect(spec.terminationGracePeriodSeconds, name).toBeGreaterThan(drainS + 10);
      const udp = c.ports
        .filter((p: { protocol: string }) => p.protocol === 'UDP')
        .map((p: { containerPort: number }) => p.containerPort);
      const first = Number(configMap.MM_RTC_PORT);
      expect(udp, name).toEqual(Array.from({ length: Number(configMap.MM_WORKERS) }, (_v, i) => first + i));
      const labels = doc.spec.selector.matchLabels;
      const pdb = pdbs.find((p) => Object.entries(p.doc.spec.selector.matchLabels).every(([k, v]) => labels[k] === v));
      expect(pdb, `PDB for ${name}`).toBeDefined();
      expect(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe(
        'kubernetes.io/hostname',
      );
    }
  });
});

describe('image build agrees with the set-up', () => {
  const dockerfile = read('infra/docker/Dockerfile');
  const stage = (name: string) => {
    const start = dockerfile.search(new RegExp(`^FROM .* AS ${name}$`, 'm'));
    const rest = dockerfile.slice(start + 1);
    const next = rest.search(/^FROM /m);
    return next < 0 ? rest : rest.slice(0, next);
  };

  it('the build stage installs the worker build dependencies of scripts/setup.mjs', () => {
    const list = /const DEBIAN_PACKAGES = \[([\s\S]*?)\];/.exec(read('scripts/setup.mjs'))?.[1] ?? '';
    const wanted = [...list.matchAll(/'([a-z0-9.+-]+)'/g)].map((m) => m[1] as string);
    const runAndTestTools = new Set([
      'redis-server',
      'ffmpeg',
      'chromium',
      'tcpdump',
      'stress-ng',
      'linux-perf',
      'prometheus',
      'redis-sentinel',
      // The GStreamer WHIP publisher of test/e2e/publishers.test.ts.
      'gstreamer1.0-plugins-base',
      'gstreamer1.0-plugins-good',
      'gstreamer1.0-plugins-bad',
      'gstreamer1.0-plugins-ugly',
      'gstreamer1.0-nice',
      'python3-gst-1.0',
      'gir1.2-gst-plugins-bad-1.0',
      // The node's commentary mix: a runtime tool (runtime-base stage), not a build dependency.
      'gstreamer1.0-tools',
    ]);
    const build = stage('build');
    const missing = wanted.filter(
      (p) => !runAndTestTools.has(p) && !new RegExp(`\\s${p.replace(/[+.]/g, '\\$&')}(\\s|$)`, 'm').test(build),
    );
    expect(wanted.length).toBeGreaterThan(8);
    expect(missing).toEqual([]);
  });

  it('the node stage installs the worker runtime packages of worker-build/README.md, and ffmpeg', () => {
    const readme = read('packages/sfu/worker-build/README.md');
    const section = readme.slice(readme.indexOf('## Runtime packages'));
    const pkgs = [...section.matchAll(/^\| `([a-z0-9.+-]+)`/gm)].map((m) => m[1] as string);
    expect(pkgs).toContain('libsrtp2-1');
    const node = stage('node') + stage('runtime-base');
    const base = new Set(['libc6', 'libstdc++6', 'libgcc-s1']);
    expect(pkgs.filter((p) => !base.has(p) && !node.includes(` ${p}`))).toEqual([]);
    expect(stage('runtime-base')).toContain('ffmpeg');
    expect(stage('node')).toContain('ENTRYPOINT ["node", "apps/node/dist/main.js"]');
    expect(stage('origin')).toContain('ENTRYPOINT ["node", "apps/origin/dist/main.js"]');
  });

  it('the runtime stages run compiled JavaScript: tsc builds in the build stage, then devDependencies go', () => {
    const build = stage('build');
    const steps = [...build.matchAll(/node infra\/docker\/build\.mjs (\w+)/g)].map((m) => m[1]);
    expect(steps).toEqual(['deps', 'worker', 'build', 'web', 'prune']);
    expect(read('infra/docker/build.mjs')).toContain("'prune', '--omit=dev'");
    // Pruning removes the transpilers only if nothing ships depends on them.
    const manifests = [
      'package.json',
      ...(JSON.parse(read('package.json')) as { workspaces: string[] }).workspaces.map((w) => `${w}/package.json`),
    ];
    for (const m of manifests) {
      const deps = (JSON.parse(read(m)) as { dependencies?: Record<string, string> }).dependencies ?? {};
      expect(
        Object.keys(deps).filter((d) => d === 'tsx' || d === 'typescript'),
        m,
      ).toEqual([]);
    }
    for (const s of ['node', 'origin', 'runtime-base']) expect(stage(s)).not.toMatch(/\btsx\b|\.ts"/);
    expect(String(compose.services.origin?.command)).toContain('node apps/origin/dist/main.js');
  });

  it('every npm workspace manifest is copied before npm ci, with the npm of packageManager', () => {
    const pkg = JSON.parse(read('package.json')) as { workspaces: string[]; packageManager: string };
    for (const w of pkg.workspaces) expect(dockerfile).toContain(`COPY ${w}/package.json ${w}/`);
    expect(dockerfile).toContain(`npm install -g ${pkg.packageManager}`);
    expect(readFileSync(path.join(ROOT, 'infra/docker/Dockerfile.dockerignore'), 'utf8')).toMatch(/^\.matchmesh$/m);
  });
});
