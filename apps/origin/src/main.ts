import { parseArgs } from 'node:util';
import { OriginAgent } from './agent.ts';
import { buildApi } from './api.ts';
import { loadConfig } from './config.ts';
import { buildFfmpegArgs, findFont, TESTPATTERN } from './ffmpeg-args.ts';
import { capLadderFps } from './ladder.ts';
import { createLogger } from './log.ts';
import { PATTERN_FPS } from './pattern-layout.ts';

/*
 * CLI: `npm start -w @matchmesh/origin` (env in README.md). Flags override env:
 *   --source <input>   same as MM_SOURCE ('testpattern', a file, rtmp://..., srt://...)
 *   --stream <id>      same as MM_STREAM
 *   --ingest <url>     same as MM_INGEST_URL
 *   --print-ffmpeg     print the ffmpeg command line (ports 5004/5006; ladder layers 5010, 5012...) and exit
 */

const HELP = `usage: origin [--source <input>] [--stream <id>] [--ingest <url>] [--print-ffmpeg]
env: MM_INGEST_URL MM_STREAM MM_PUBLISH_TOKEN MM_SOURCE MM_LADDER MM_X264_PRESET MM_SCORE_INTERVAL_MS MM_ORIGIN_API_PORT LOG_LEVEL ...`;

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      source: { type: 'string' },
      stream: { type: 'string' },
      ingest: { type: 'string' },
      'print-ffmpeg': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const env = { ...process.env };
  if (values.source) env.MM_SOURCE = values.source;
  if (values.stream) env.MM_STREAM = values.stream;
  if (values.ingest) env.MM_INGEST_URL = values.ingest;
  if (values['print-ffmpeg']) env.MM_PUBLISH_TOKEN ??= 'unused';

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(env);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  }

  if (values['print-ffmpeg']) {
    const args = buildFfmpegArgs({
      source: config.source,
      videoPort: 5004,
      audioPort: 5006,
      videoBitrateKbps: config.videoBitrateKbps,
      size: config.videoSize,
      burnStrips: config.source === TESTPATTERN || config.burnStrips,
      loop: config.loop,
      listen: config.rtmpListen,
      sourceHasAudio: true,
      fontFile: findFont(),
      ladder: config.ladder && {
        layers: config.source === TESTPATTERN ? capLadderFps(config.ladder, PATTERN_FPS) : config.ladder,
        layerPorts: config.ladder.map((_, i) => 5010 + 2 * i),
        keyframeIntervalMs: config.keyframeIntervalMs,
        preset: config.x264Preset,
      },
    });
    console.log([config.ffmpegPath, ...args].map(shellQuote).join(' '));
    return;
  }

  const log = createLogger(config.logLevel);
  const agent = new OriginAgent({ ...config, logger: log });
  agent.on('connected', (i) => log.info(i, 'connected to ingest'));
  agent.on('disconnected', (i) => log.warn(i, 'disconnected from ingest'));

  // Whatever happens to this process, ffmpeg must not outlive it.
  process.on('exit', () => agent.kill());
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    agent.kill();
    process.exit(1);
  });

  const api = config.apiPort === null ? undefined : buildApi(agent, { token: config.apiToken, logger: log });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => process.exit(1), 5000);
    hardStop.unref();
    await api?.close();
    await agent.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await agent.start();
  if (api) {
    const address = await api.listen({ port: config.apiPort!, host: config.apiHost });
    log.info({ address }, 'score API listening');
    // Under a supervisor (tests, a process manager with IPC): say where the API is.
    process.send?.({ type: 'api', url: address });
  }
  // Status line every 10 s: enough to see a stall in the logs.
  setInterval(() => log.info({ stats: agent.stats }, 'status'), 10_000).unref();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
