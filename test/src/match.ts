import { type RedisServer, startRedisServer } from '@matchmesh/cluster/testing';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { startNode, type TestNode, token } from './node.ts';
import { startOrigin } from './origin.ts';
import type { ManagedProcess } from './processes.ts';

/** Redis, one node (ingest + relay), the origin agent publishing, and Chromium with a viewer playing. */
export interface LiveMatch {
  stream: string;
  redis: RedisServer;
  node: TestNode;
  origin: ManagedProcess;
  browser: Browser;
  /** A /watch page that has decoded 30 frames. */
  viewer: Page;
  /** Stops everything started, newest first. */
  stop(): Promise<void>;
}

/**
 * The set-up most single-node browser tests share. If a step fails, what was
 * already started is stopped before the error is rethrown.
 */
export async function startLiveMatch(
  stream: string,
  options: { nodeEnv?: Record<string, string>; originEnv?: Record<string, string> } = {},
): Promise<LiveMatch> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const redis = await startRedisServer();
    stops.push(() => redis.stop());
    const node = await startNode(redis.url, options.nodeEnv);
    stops.push(() => node.stop());
    const origin = await startOrigin(node.url, stream, { MM_SCORE_INTERVAL_MS: '1000', ...options.originEnv });
    stops.push(() => origin.stop());
    const browser = await launchChromium();
    stops.push(() => browser.close());
    const viewer = await browser.newPage();
    await viewer.goto(`${node.url}/watch?stream=${stream}&token=${await token('viewer', stream)}`);
    await viewer.waitForFunction(() => (window.__mm?.framesDecoded() ?? 0) >= 30, undefined, { timeout: 30_000 });
    return { stream, redis, node, origin, browser, viewer, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
