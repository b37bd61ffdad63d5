import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { AUDIO_PAYLOAD_TYPE } from './codecs.ts';
import { parseBoothConfig, toneFfmpegArgs, toneLevel } from './demo-booth/config.ts';
import { BOOTH_SSRC, BoothSession } from './demo-booth/session.ts';
import { createLogger } from './log.ts';
import { sleep } from './sleep.ts';

/*
 * The demo booth (`npm start` runs one per demo language under its
 * supervisor): joins the stream's booth as a commentator and talks a beeping
 * tone into it until stopped. It waits for the stream to go live; any other failure exits non-zero and the supervisor
 * restarts it with backoff — one session per process keeps this simple.
 * Env: MM_BOOTH_NODE_URL MM_STREAM MM_BOOTH_TOKEN MM_BOOTH_LANG [MM_BOOTH_TONE_HZ MM_BOOTH_BEEPS_PER_S MM_FFMPEG].
 */

async function main(): Promise<void> {
  const config = parseBoothConfig(process.env);
  const log = createLogger(process.env.LOG_LEVEL ?? 'info', 'demo-booth').child({ lang: config.lang });
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');

  let session: BoothSession | undefined;
  let ffmpeg: ChildProcess | undefined;
  let stopping = false;
  const stop = (code: number, reason: string) => {
    if (stopping) return;
    stopping = true;
    (code === 0 ? log.info.bind(log) : log.error.bind(log))({ reason }, 'demo booth stopping');
    session?.close();
    ffmpeg?.kill('SIGKILL');
    socket.close();
    process.exitCode = code;
    // werift's timers would keep the process alive; the supervisor waits for this exit.
    setTimeout(() => process.exit(code), 200).unref();
  };
  process.once('SIGTERM', () => stop(0, 'SIGTERM'));
  process.once('SIGINT', () => stop(0, 'SIGINT'));

  // `npm start` starts the booth with the origin: until the match is live the join is refused (not_found).
  // Waiting here, rather than exiting, keeps the supervisor's crash-loop pause for real failures.
  for (;;) {
    session = new BoothSession(config);
    try {
      await session.start();
      break;
    } catch (err) {
      session.close();
      if (stopping) return;
      if (!(err instanceof Error && /not_found/.test(err.message))) throw err;
      log.debug('the stream is not live yet; joining again in 1 s');
      await sleep(1000);
    }
  }
  session.onDead((reason) => stop(1, reason));
  // ffmpeg's first packet is the tone's t = 0: each packet's level follows from its RTP timestamp (48 kHz).
  let firstTimestamp: number | undefined;
  socket.on('message', (packet) => {
    if (packet.length < 12) return;
    const timestamp = packet.readUInt32BE(4);
    firstTimestamp ??= timestamp;
    session?.sendRtp(packet, toneLevel(config, ((timestamp - firstTimestamp) >>> 0) / 48_000));
  });
  ffmpeg = spawn(config.ffmpeg, toneFfmpegArgs(config, socket.address().port, AUDIO_PAYLOAD_TYPE, BOOTH_SSRC), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  ffmpeg.stderr?.on('data', (d: Buffer) => log.warn({ ffmpeg: String(d).trim() }, 'ffmpeg'));
  ffmpeg.once('exit', (code, signal) => stop(1, `ffmpeg exited (${code ?? signal})`));
  ffmpeg.once('error', (err) => stop(1, `ffmpeg: ${err.message}`));
  log.info({ producerId: session.producerId, toneHz: config.toneHz, stream: config.stream }, 'demo commentator on air');
}

main().catch((err: unknown) => {
  console.error(`[demo-booth] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
