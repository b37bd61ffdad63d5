// A pre-recorded RTP replay of the origin's test match: 720p30 H.264 at
// ~1.5 Mbps + Opus, encoded once by ffmpeg with exactly the origin agent's
// arguments (apps/origin buildFfmpegArgs) and cached on disk. Replaying it
// costs the bench almost no CPU, so on a 2-core machine the relay worker is
// not competing with a live x264 encoder while its capacity is measured.
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AUDIO_PAYLOAD_TYPE,
  AUDIO_SSRC,
  buildFfmpegArgs,
  parseLadder,
  TESTPATTERN,
  VIDEO_PAYLOAD_TYPE,
  VIDEO_SSRC,
} from '@matchmesh/origin';

export interface RecordedPacket {
  kind: 'audio' | 'video';
  /** Simulcast layer of a video packet (0 = lowest; 0 for a single-layer recording). */
  layer: number;
  /** Send offset from the start of the recording, ms (from the RTP timestamp). */
  atMs: number;
  data: Buffer;
}

export interface Recording {
  packets: RecordedPacket[];
  durationMs: number;
  videoBitrateKbps: number;
  /** The video layers' SSRCs, lowest first (one for a single-layer recording). */
  videoSsrcs: number[];
}

const FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf',
];

/** Load the cached recording, or record `seconds` of the origin's test pattern (takes that long: ffmpeg -re). */
export async function loadRecording(cacheDir: string, kbps: number, seconds = 10): Promise<Recording> {
  const file = path.join(cacheDir, `replay-720p30-${kbps}k-${seconds}s.bin`);
  if (existsSync(file)) return decode(readFileSync(file), [VIDEO_SSRC]);
  const rec = await record(kbps, seconds);
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(file, encode(rec));
  return rec;
}

/**
 * The same test match as a simulcast ladder (`MM_LADDER` syntax, e.g.
 * `1280x720@30:1500,640x360@30:600,320x180@30:200`), encoded by the origin
 * agent's own ffmpeg ladder (one decode, key frames aligned, one SSRC per
 * layer), cached like the single-layer recording.
 */
export async function loadLadderRecording(cacheDir: string, ladder: string, seconds = 10): Promise<Recording> {
  const layers = parseLadder(ladder);
  const ssrcs = layers.map((l) => l.ssrc);
  const file = path.join(
    cacheDir,
    `replay-ladder-${ladder.replace(/[^0-9x@:,]/g, '').replace(/[@:,]/g, '_')}-${seconds}s.bin`,
  );
  if (existsSync(file)) return decode(readFileSync(file), ssrcs);
  const rec = await record(layers.at(-1)!.kbps, seconds, ladder);
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(file, encode(rec));
  return rec;
}

async function bindLoopback(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  s.setRecvBufferSize(4 * 1024 * 1024);
  return s;
}

async function record(kbps: number, seconds: number, ladderText?: string): Promise<Recording> {
  const fontFile = FONTS.find((f) => existsSync(f));
  if (!fontFile) throw new Error(`no font for the test pattern (tried ${FONTS.join(', ')})`);
  const layers = ladderText ? parseLadder(ladderText) : undefined;
  const videos = await Promise.all((layers ?? [undefined]).map(() => bindLoopback()));
  const audio = await bindLoopback();
  const raw: Array<{ kind: 'audio' | 'video'; layer: number; data: Buffer }> = [];
  const onPacket = (kind: 'audio' | 'video', layer: number) => (msg: Buffer) => {
    const pt = msg[1]! & 0x7f;
    if (msg.length >= 12 && msg[0]! >> 6 === 2 && pt !== 72 && !(msg[1]! >= 200 && msg[1]! <= 207))
      raw.push({ kind, layer, data: Buffer.from(msg) });
  };
  for (const [i, v] of videos.entries()) v.on('message', onPacket('video', i));
  audio.on('message', onPacket('audio', 0));
  const args = buildFfmpegArgs({
    source: TESTPATTERN,
    videoPort: videos[0]!.address().port,
    audioPort: audio.address().port,
    videoBitrateKbps: kbps,
    burnStrips: true,
    loop: false,
    listen: false,
    sourceHasAudio: true,
    fontFile,
    ...(layers
      ? { ladder: { layers, layerPorts: videos.map((v) => v.address().port), keyframeIntervalMs: 1000 } }
      : {}),
  });
  // -t before each output (-map starts one) bounds the recording; the rest is
  // the origin's exact command line.
  for (let i = args.length - 1; i >= 0; i--) if (args[i] === '-map') args.splice(i, 0, '-t', String(seconds + 0.5));
  const ff = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  ff.stderr.on('data', (b: Buffer) => {
    err += b.toString();
  });
  const code = await new Promise<number | null>((resolve) => ff.on('exit', resolve));
  for (const v of videos) v.close();
  audio.close();
  if (code !== 0 && raw.length === 0) throw new Error(`ffmpeg failed (${code}): ${err.slice(-2000)}`);
  return fromRaw(raw, kbps, seconds, layers?.map((l) => l.ssrc) ?? [VIDEO_SSRC]);
}

/** Each RTP stream's key in a recording: audio, or the video layer. */
const streamKey = (p: { kind: 'audio' | 'video'; layer: number }): string =>
  p.kind === 'audio' ? 'audio' : `video${p.layer}`;

function fromRaw(
  raw: Array<{ kind: 'audio' | 'video'; layer: number; data: Buffer }>,
  kbps: number,
  seconds: number,
  videoSsrcs: number[],
): Recording {
  const firstTs = new Map<string, number>();
  const packets: RecordedPacket[] = [];
  for (const { kind, layer, data } of raw) {
    const ts = data.readUInt32BE(4);
    const key = streamKey({ kind, layer });
    if (!firstTs.has(key)) firstTs.set(key, ts);
    const rate = kind === 'video' ? 90 : 48;
    const atMs = ((ts - firstTs.get(key)! + 2 ** 32) % 2 ** 32) / rate;
    if (atMs >= seconds * 1000) continue;
    // ffmpeg starts every ladder output on the same source frame with its own random timestamp; the origin
    // agent re-stamps all layers onto one RTP clock before WHIP (the stable program's Sender Reports, and
    // so mediasoup's layer switches, rely on it): do the same here.
    if (kind === 'video' && layer > 0) {
      data.writeUInt32BE((ts - firstTs.get(key)! + (firstTs.get('video0') ?? firstTs.get(key)!)) >>> 0, 4);
    }
    packets.push({ kind, layer, atMs, data });
  }
  // Start on the first keyframe's frame so every loop starts decodable, and
  // order by send time (ffmpeg's outputs interleave).
  packets.sort((a, b) => a.atMs - b.atMs);
  return { packets, durationMs: seconds * 1000, videoBitrateKbps: kbps, videoSsrcs };
}

function encode(rec: Recording): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12);
  head.writeUInt32BE(rec.packets.length, 0);
  head.writeUInt32BE(rec.durationMs, 4);
  head.writeUInt32BE(rec.videoBitrateKbps, 8);
  parts.push(head);
  for (const p of rec.packets) {
    const h = Buffer.alloc(11);
    // 0 = audio, 1 + layer = video (a single-layer file has only 1s: files from before layers still read).
    h.writeUInt8(p.kind === 'video' ? 1 + p.layer : 0, 0);
    h.writeDoubleBE(p.atMs, 1);
    h.writeUInt16BE(p.data.length, 9);
    parts.push(h, p.data);
  }
  return Buffer.concat(parts);
}

function decode(buf: Buffer, videoSsrcs: number[]): Recording {
  const n = buf.readUInt32BE(0);
  const durationMs = buf.readUInt32BE(4);
  const videoBitrateKbps = buf.readUInt32BE(8);
  const packets: RecordedPacket[] = [];
  let off = 12;
  for (let i = 0; i < n; i++) {
    const tag = buf.readUInt8(off);
    const kind = tag >= 1 ? 'video' : 'audio';
    const atMs = buf.readDoubleBE(off + 1);
    const len = buf.readUInt16BE(off + 9);
    packets.push({
      kind,
      layer: Math.max(0, tag - 1),
      atMs,
      data: Buffer.from(buf.subarray(off + 11, off + 11 + len)),
    });
    off += 11 + len;
  }
  return { packets, durationMs, videoBitrateKbps, videoSsrcs };
}

export const REPLAY_CODECS = {
  video: { payloadType: VIDEO_PAYLOAD_TYPE, ssrc: VIDEO_SSRC },
  audio: { payloadType: AUDIO_PAYLOAD_TYPE, ssrc: AUDIO_SSRC },
};

/**
 * Sends the recording in a loop at its original pace to one UDP address,
 * rewriting sequence numbers and timestamps so the loop is seamless to the
 * receiver (no seq jump, time keeps advancing).
 */
export class Replayer {
  readonly #rec: Recording;
  readonly #socket: Socket;
  readonly #target: { ip: string; port: number };
  #timer: NodeJS.Timeout | undefined;
  #start = 0;
  #next = 0;
  #loop = 0;
  /** Packets per RTP stream (audio, each video layer) in one loop of the recording. */
  readonly #count = new Map<string, number>();
  bytesSent = 0;
  packetsSent = 0;

  constructor(rec: Recording, socket: Socket, target: { ip: string; port: number }) {
    this.#rec = rec;
    this.#socket = socket;
    this.#target = target;
    for (const p of rec.packets) this.#count.set(streamKey(p), (this.#count.get(streamKey(p)) ?? 0) + 1);
  }

  start(): void {
    this.#start = performance.now();
    // 2 ms tick: frames go out as a burst like ffmpeg sends them; the timer
    // granularity is far below a 33 ms frame interval.
    this.#timer = setInterval(() => this.#pump(), 2);
  }

  #pump(): void {
    const now = performance.now() - this.#start;
    const packets = this.#rec.packets;
    for (;;) {
      if (this.#next >= packets.length) {
        this.#next = 0;
        this.#loop++;
      }
      const p = packets[this.#next]!;
      const at = p.atMs + this.#loop * this.#rec.durationMs;
      if (at > now) return;
      const out = Buffer.from(p.data);
      const rate = p.kind === 'video' ? 90 : 48;
      out.writeUInt16BE((p.data.readUInt16BE(2) + this.#loop * this.#count.get(streamKey(p))!) & 0xffff, 2);
      out.writeUInt32BE((p.data.readUInt32BE(4) + this.#loop * this.#rec.durationMs * rate) >>> 0, 4);
      this.#socket.send(out, this.#target.port, this.#target.ip);
      this.bytesSent += out.length;
      this.packetsSent++;
      this.#next++;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
