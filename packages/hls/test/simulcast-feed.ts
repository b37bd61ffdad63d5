import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { MEDIA_CODECS } from '@matchmesh/sfu';
import type { types } from 'mediasoup';
import type { HlsSource } from '../src/HlsStream.ts';

/**
 * A real simulcast source for HLS ladder tests: one ffmpeg encodes three
 * H.264 layers of one test pattern (the CI ladder 640x360 / 320x180 /
 * 160x90, 30 fps, key frames every 0.5 s and aligned, as an origin's ladder
 * is) and Opus audio, sent as RTP to sockets here, which give each layer its
 * SSRC and one RTP timeline (ffmpeg's RTP muxer starts each output at a
 * random timestamp; a simulcast encoder uses one clock) and feed one producer
 * with three encodings (lowest first, as mediasoup wants) on a
 * PlainTransport. Used by packages/hls/test/renditions.test.ts and
 * test/e2e/hls-ladder.test.ts.
 */

export { MEDIA_CODECS };

export const LAYERS = [
  { w: 160, h: 90, ssrc: 0x1001, kbps: 120 },
  { w: 320, h: 180, ssrc: 0x1002, kbps: 350 },
  { w: 640, h: 360, ssrc: 0x1003, kbps: 1000 },
];
const AUDIO_SSRC = 0x2001;
/** Video RTP time of the first frame: mediaTime 100 s (the origin writes its media clock there). */
const VIDEO_BASE = 100 * 90_000;

export interface Feed {
  counts: number[];
  stderr(): string;
  producer: types.Producer;
  audio: types.Producer;
  /** Stop or resume forwarding one layer (its packets are dropped here, as a lost layer). */
  mute(layer: number, muted: boolean): void;
  close(): void;
}

export async function startFeed(router: types.Router): Promise<Feed> {
  const transport = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: true,
  });
  const h264 = router.rtpCapabilities.codecs!.find(
    (c) => c.mimeType === 'video/H264' && c.parameters?.['profile-level-id'] === '42e01f',
  )!;
  const opus = router.rtpCapabilities.codecs!.find((c) => c.mimeType === 'audio/opus')!;
  const producer = await transport.produce({
    kind: 'video',
    rtpParameters: {
      codecs: [
        {
          mimeType: 'video/H264',
          payloadType: h264.preferredPayloadType!,
          clockRate: 90000,
          parameters: h264.parameters,
          rtcpFeedback: [{ type: 'nack', parameter: 'pli' }],
        },
      ],
      encodings: LAYERS.map((l) => ({ ssrc: l.ssrc })),
    },
  });
  const audio = await transport.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [{ mimeType: 'audio/opus', payloadType: opus.preferredPayloadType!, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: AUDIO_SSRC }],
    },
  });
  const target = transport.tuple.localPort;
  const out = dgram.createSocket('udp4');
  await new Promise<void>((r) => out.bind(0, '127.0.0.1', () => r()));
  const muted = new Set<number>();
  const counts = [0, 0, 0, 0];
  const sockets: dgram.Socket[] = [];
  const ports: number[] = [];
  const streams = [
    ...LAYERS.map((l, i) => ({ ssrc: l.ssrc, pt: h264.preferredPayloadType!, base: VIDEO_BASE, layer: i })),
    { ssrc: AUDIO_SSRC, pt: opus.preferredPayloadType!, base: 4_800_000, layer: -1 },
  ];
  for (const s of streams) {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    let first: number | undefined;
    sock.on('message', (msg) => {
      counts[s.layer + 1]!++;
      if (msg.length < 12) return; // (ffmpeg sends its RTCP to port + 1, not here)
      const ts = msg.readUInt32BE(4);
      first ??= ts;
      if (muted.has(s.layer)) return;
      // One timeline for every layer (ffmpeg's RTP muxer starts each at a random timestamp).
      msg.writeUInt32BE((ts - first + s.base) >>> 0, 4);
      msg.writeUInt32BE(s.ssrc, 8);
      msg[1] = (msg[1]! & 0x80) | s.pt;
      out.send(msg, target, '127.0.0.1');
    });
    sockets.push(sock);
    ports.push(sock.address().port);
  }
  const x264 = [
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-tune',
    'zerolatency',
    '-profile:v',
    'baseline',
    '-g',
    '15',
    '-keyint_min',
    '15',
    '-sc_threshold',
    '0',
    '-bf',
    '0',
    '-pix_fmt',
    'yuv420p',
  ];
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-re',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x360:rate=30',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-filter_complex',
    `[0:v]split=3[a][b][c];[a]scale=${LAYERS[0]!.w}:${LAYERS[0]!.h}[v0];[b]scale=${LAYERS[1]!.w}:${LAYERS[1]!.h}[v1];[c]scale=${LAYERS[2]!.w}:${LAYERS[2]!.h}[v2]`,
    ...LAYERS.flatMap((l, i) => [
      '-map',
      `[v${i}]`,
      ...x264,
      '-b:v',
      `${l.kbps}k`,
      '-maxrate',
      `${l.kbps}k`,
      '-bufsize',
      `${l.kbps / 2}k`,
      '-f',
      'rtp',
      `rtp://127.0.0.1:${ports[i]}?pkt_size=1200`,
    ]),
    '-map',
    '1:a',
    '-c:a',
    'libopus',
    '-b:a',
    '48k',
    '-ac',
    '2',
    '-f',
    'rtp',
    `rtp://127.0.0.1:${ports[3]}?pkt_size=1200`,
  ];
  const ff: ChildProcess = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  ff.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  ff.once('exit', (code) => {
    if (code) console.error('feed ffmpeg exited', code, stderr);
  });
  return {
    counts,
    stderr: () => stderr,
    producer,
    audio,
    mute(layer, on) {
      if (on) muted.add(layer);
      else muted.delete(layer);
    },
    close() {
      ff.kill('SIGKILL');
      for (const s of sockets) s.close();
      out.close();
      transport.close();
    },
  };
}

/** The minimal StreamRouter surface HlsStream (and HlsService: live, closed) uses, over a bare router (test only). */
export function standIn(router: types.Router, producers: types.Producer[], stream = 'ladder'): HlsSource {
  const events = new EventEmitter();
  return Object.assign(events, {
    stream,
    router,
    live: true,
    closed: false,
    programProducers: () => producers,
    scoresSince: () => [],
    latestScore: null,
  }) as unknown as HlsSource;
}
