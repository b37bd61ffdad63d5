// Dev harness (not a test): redis + node + origin, prints the HLS URL, runs until killed.
import { startRedisServer } from '@matchmesh/cluster/testing';
import { startNode, token } from '../src/node.ts';
import { startOrigin } from '../src/origin.ts';

const redis = await startRedisServer();
const node = await startNode(redis.url, { LOG_LEVEL: 'debug', MM_HLS_DIR: '/tmp/hls-dev' });
const origin = await startOrigin(node.url, 'dev', { MM_SCORE_INTERVAL_MS: '1000' });
console.log(`URL ${node.url}/hls/dev/index.m3u8?token=${await token('viewer', 'dev')}`);
const stop = async () => { await origin.stop(); await node.stop(); await redis.stop(); process.exit(0); };
process.on('SIGTERM', stop); process.on('SIGINT', stop);
setInterval(() => {}, 1000);
