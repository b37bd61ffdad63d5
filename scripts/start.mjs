// `npm start` after set-up: Redis (embedded unless REDIS_URL is given), one
// node holding both roles, the origin agent publishing the test match with
// scores, and the web page served by the node. Ctrl-C stops every child.
// Plain JavaScript, and every child runs its compiled dist/ (the set-up's
// `tsc -b` built it): no transpiler in any process, as in production.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedRedis } from '@matchmesh/cluster';
import { signToken } from '@matchmesh/protocol';

const root = path.resolve(import.meta.dirname, '..');
const secret = process.env.MM_TOKEN_SECRET ?? readFileSync(path.join(root, '.matchmesh/secret'), 'utf8').trim();
const stream = process.env.MM_STREAM ?? 'match';
const port = process.env.MM_HTTP_PORT ?? '8080';
/** @type {import('node:child_process').ChildProcess[]} */
const children = [];

/**
 * @param {string} name
 * @param {string} entry
 * @param {Record<string, string>} env
 */
function launch(name, entry, env) {
  const child = fork(path.join(root, entry), [], {
    execArgv: [],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.once('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[start] ${name} exited (${code ?? signal}); stopping everything`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
/** @type {(() => Promise<void>) | undefined} */
let redisStop;
async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  // Origin first (it DELETEs its WHIP session), then the node, then Redis.
  for (const child of [...children].reverse()) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 5000))]);
    }
  }
  await redisStop?.();
  process.exit(code);
}
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

let redisUrl = process.env.REDIS_URL;
if (!redisUrl) {
  const redis = await startEmbeddedRedis({ dataDir: path.join(root, '.matchmesh', 'redis') });
  redisUrl = redis.url;
  redisStop = () => redis.stop();
  console.log(`[start] embedded redis-server at ${redisUrl}`);
}

const node = launch('node', 'apps/node/dist/main.js', {
  REDIS_URL: redisUrl,
  MM_HTTP_PORT: port,
  MM_TOKEN_SECRET: secret,
  MM_REGION: process.env.MM_REGION ?? 'local',
  // The demo match is packaged from the start, so the viewer page's rewind has a window to go back in.
  MM_HLS_ALWAYS: process.env.MM_HLS_ALWAYS ?? stream,
});
/** @type {[{ url: string }]} */
const [listening] = await once(node, 'message');
const base = listening.url;

const publishToken = await signToken(secret, { role: 'publisher', stream, ttl: '7d', sub: 'origin' });
launch('origin', 'apps/origin/dist/main.js', {
  MM_INGEST_URL: base,
  MM_STREAM: stream,
  MM_PUBLISH_TOKEN: publishToken,
  // The origin's default ladder (1080p / 720p / 360p simulcast, ~1 core of encoding); MM_LADDER=off for one layer.
  ...(process.env.MM_LADDER ? { MM_LADDER: process.env.MM_LADDER } : {}),
});

const viewerToken = await signToken(secret, { role: 'viewer', stream, ttl: '7d', sub: 'local-viewer' });
const adminToken = await signToken(secret, { role: 'admin', stream: '*', ttl: '7d', sub: 'local-admin' });
console.log(`
  matchmesh is running
  ─────────────────────────────────────────────────────────────
  Watch:    ${base}/watch?stream=${stream}&token=${viewerToken}
  WHEP:     ${base}/whep/${stream}   (Authorization: Bearer ${viewerToken})
  WHIP:     ${base}/whip/${stream}   (Authorization: Bearer <publisher token: npx matchmesh token --role publisher --stream ${stream}>)
  Admin:    ${base}/api/v1/nodes     (Authorization: Bearer ${adminToken})
  API docs: ${base}/api/v1/docs?token=${adminToken}
  Metrics:  ${base}/metrics          (same admin token)
  Ctrl-C stops everything.
`);
