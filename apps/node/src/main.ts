import { ConfigError, loadConfig, type NodeConfig } from './config.ts';
import { createNodeLogger } from './logs/LogRing.ts';
import { startNode } from './server.ts';

/** `node apps/node/dist/main.js` (compiled by `tsc -b`): run one node from environment configuration. */
async function main(): Promise<void> {
  let config: NodeConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  // stdout at LOG_LEVEL; info and above also in the ring ops read a session's lines from.
  const { logger, ring } = createNodeLogger({
    level: config.node.logLevel,
    ringLevel: 'info',
    ringLines: config.logs.ringLines,
    base: { node: config.node.id },
  });
  const node = await startNode(config, logger, ring);
  const stop = async (signal: string): Promise<void> => {
    logger.info({ signal }, 'stopping');
    await node.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  // Tell a parent process (tests, npm start) where we listen.
  process.send?.({ type: 'listening', url: node.url, nodeId: config.node.id });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
