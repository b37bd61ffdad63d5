// `npm start` after set-up: the mesh the README draws, on one machine —
// Redis (embedded unless REDIS_URL is given), an ingest in `eu`, a relay in
// `eu` and one in `asia` (separate processes, own ports and workers), and the
// origin agent publishing the test match with scores. Every child is
// supervised (scripts/supervisor.mjs): kill the origin agent or a relay and
// watch the mesh recover. MM_TOPOLOGY=single runs one node holding both roles
// instead. Ctrl-C stops everything. Every child runs its compiled dist/ (the
// set-up's `tsc -b` built it): no transpiler in any process, as in production.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedRedis } from '@matchmesh/cluster';
import { signToken } from '@matchmesh/protocol';
import { Supervisor } from './supervisor.mjs';

const root = path.resolve(import.meta.dirname, '..');
const env = process.env;
const secret = env.MM_TOKEN_SECRET ?? readFileSync(path.join(root, '.matchmesh/secret'), 'utf8').trim();
const stream = env.MM_STREAM ?? 'match';
const topology = env.MM_TOPOLOGY ?? 'mesh';
if (topology !== 'mesh' && topology !== 'single') {
  console.error(`[start] MM_TOPOLOGY must be "mesh" or "single", not "${topology}"`);
  process.exit(2);
}
const httpBase = Number(env.MM_HTTP_PORT ?? 8080);
const rtcBase = Number(env.MM_RTC_PORT ?? 44400);
const rtcRangeBase = Number(env.MM_RTC_MIN_PORT ?? 45000);

/**
 * The nodes: i-th gets HTTP port base + i, WebRtcServer ports base + 10·i (up
 * to 10 workers), and its own 200-port block for pipes (the layout of
 * infra/compose). In the mesh each node runs one worker unless MM_WORKERS
 * says otherwise: three nodes and an encoder share this machine.
 */
const nodes =
  topology === 'single'
    ? [{ name: 'node', id: undefined, region: env.MM_REGION ?? 'local', roles: undefined }]
    : [
        { name: 'ingest-eu', id: 'ingest-eu', region: 'eu', roles: 'ingest' },
        { name: 'relay-eu', id: 'relay-eu', region: 'eu', roles: 'relay' },
        { name: 'relay-asia', id: 'relay-asia', region: 'asia', roles: 'relay' },
      ];

const supervisor = new Supervisor();
/** @type {(() => Promise<void>) | undefined} */
let redisStop;
let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  // Origin first (it DELETEs its WHIP session), then the nodes, then Redis.
  await supervisor.stop();
  await redisStop?.();
  process.exit(0);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

let redisUrl = env.REDIS_URL;
if (!redisUrl) {
  const redis = await startEmbeddedRedis({ dataDir: path.join(root, '.matchmesh', 'redis') });
  redisUrl = redis.url;
  redisStop = () => redis.stop();
  console.log(`[start] embedded redis-server at ${redisUrl}`);
}

/** @type {Record<string, string>} each node's URL, from its first 'listening' message */
const urls = {};
const listening = nodes.map(
  (n, i) =>
    new Promise((resolve) => {
      supervisor.add(n.name, {
        entry: path.join(root, 'apps/node/dist/main.js'),
        env: {
          REDIS_URL: redisUrl,
          MM_TOKEN_SECRET: secret,
          MM_HTTP_PORT: String(httpBase + i),
          MM_RTC_PORT: String(rtcBase + 10 * i),
          MM_RTC_MIN_PORT: String(rtcRangeBase + 200 * i),
          MM_RTC_MAX_PORT: String(rtcRangeBase + 200 * i + 199),
          MM_REGION: n.region,
          ...(n.id ? { MM_NODE_ID: n.id, MM_ROLES: n.roles, MM_WORKERS: env.MM_WORKERS ?? '1' } : {}),
          // Every holder of the demo match records it from its first packet: rewind works on every relay.
          MM_HLS_ALWAYS: env.MM_HLS_ALWAYS ?? stream,
        },
        onStart: (child) =>
          child.on('message', (/** @type {{ type?: string, url?: string }} */ msg) => {
            if (msg?.type !== 'listening' || !msg.url) return;
            urls[n.name] = msg.url;
            resolve(msg.url);
          }),
      });
    }),
);
await Promise.all(listening);
const ingestUrl = urls[nodes[0].name];

const publishToken = await signToken(secret, { role: 'publisher', stream, ttl: '7d', sub: 'origin' });
supervisor.add('origin', {
  entry: path.join(root, 'apps/origin/dist/main.js'),
  env: {
    MM_INGEST_URL: ingestUrl,
    MM_STREAM: stream,
    MM_PUBLISH_TOKEN: publishToken,
    // The origin's default ladder (1080p / 720p / 360p simulcast, ~1 core of encoding); MM_LADDER=off for one layer.
    ...(env.MM_LADDER ? { MM_LADDER: env.MM_LADDER } : {}),
  },
});

// The demo booth: one headless commentator per language (a beeping tone, its pitch naming the language:
// en 600 Hz, es 900 Hz) into the ingest's booth, so the viewer's language menu and the HLS audio group
// have something to switch. MM_DEMO_COMMENTARY=off for none, or a comma list of languages.
const demoCommentary = env.MM_DEMO_COMMENTARY ?? 'en,es';
const demoLangs =
  demoCommentary === 'off'
    ? []
    : demoCommentary
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean);
for (const lang of demoLangs) {
  const token = await signToken(secret, { role: 'commentator', stream, lang, ttl: '7d', sub: `demo-booth-${lang}` });
  supervisor.add(`booth-${lang}`, {
    entry: path.join(root, 'apps/origin/dist/demo-booth-main.js'),
    env: { MM_BOOTH_NODE_URL: ingestUrl, MM_STREAM: stream, MM_BOOTH_TOKEN: token, MM_BOOTH_LANG: lang },
  });
}

const viewerToken = await signToken(secret, { role: 'viewer', stream, ttl: '7d', sub: 'local-viewer' });
const adminToken = await signToken(secret, { role: 'admin', stream: '*', ttl: '7d', sub: 'local-admin' });
const regions = topology === 'single' ? [nodes[0]] : nodes.filter((n) => n.roles === 'relay');
const watchLines = regions.flatMap((n) => {
  const url = urls[n.name];
  const label = `(${n.region})`.padEnd(7);
  return [
    `  Watch ${label} ${url}/watch?stream=${stream}&node=${encodeURIComponent(url)}&token=${viewerToken}`,
    `  WHEP  ${label} ${url}/whep/${stream}   (Authorization: Bearer ${viewerToken})`,
  ];
});
const shape =
  topology === 'single'
    ? 'one node, both roles (MM_TOPOLOGY=single)'
    : 'ingest-eu → relay-eu, relay-asia (MM_TOPOLOGY=single for one node)';
console.log(`
  matchmesh is running: ${shape}
  ─────────────────────────────────────────────────────────────
${watchLines.join('\n')}
  WHIP          ${ingestUrl}/whip/${stream}   (Authorization: Bearer <publisher token: npx matchmesh token --role publisher --stream ${stream}>)
  Ops           ${ingestUrl}/ops?token=${adminToken}
  Admin API     ${ingestUrl}/api/v1/nodes     (Authorization: Bearer ${adminToken})
  API docs      ${ingestUrl}/api/v1/docs?token=${adminToken}
  Metrics       ${ingestUrl}/metrics          (same admin token)
  Commentary    ${demoLangs.length ? `demo booth: ${demoLangs.join(', ')} (tones; the player's language menu, HLS audio) — MM_DEMO_COMMENTARY=off for none` : 'no demo booth (MM_DEMO_COMMENTARY=off)'}
  A child that dies is restarted (kill the origin agent or a relay to watch the mesh recover).
  Ctrl-C stops everything.
`);
