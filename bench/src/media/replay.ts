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
  TESTPATTERN,
  VIDEO_PAYLOAD_TYPE,
  VIDEO_SSRC,
} from '@matchmesh/origin';

export interface RecordedPacket {
  kind: 'audio' | 'video';
  /** Send offset from the start of the recording, ms (from the RTP timestamp). */
  atMs: number;
  data: Buffer;
}

export interface Recording {
  packets: RecordedPacket[];
  durationMs: number;
  videoBitrateKbps: number;
}

const FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationMono-Bold.ttf',
];

/** Load the cached recording, or record `seconds` of the origin's test pattern (takes that long: ffmpeg -re). */
export async function loadRecording(cacheDir: string, kbps: number, seconds = 10): Promise<Recording> {
  const file = path.join(cacheDir, `replay-720p30-${kbps}k-${seconds}s.bin`);
  if (existsSync(file)) return decode(readFileSync(file));
  const rec = await record(kbps, seconds);
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

async function record(kbps: number, seconds: number): Promise<Recording> {
  const fontFile = FONTS.find((f) => existsSync(f));
  if (!fontFile) throw new Error(`no font for the test pattern (tried ${FONTS.join(', ')})`);
  const video = await bindLoopback();
  const audio = await bindLoopback();
  const raw: Array<{ kind: 'audio' | 'video'; data: Buffer }> = [];
  const onPacket = (kind: 'audio' | 'video') => (msg: Buffer) => {
    const pt = msg[1]! & 0x7f;
    if (msg.length >= 12 && msg[0]! >> 6 === 2 && pt !== 72 && !(msg[1]! >= 200 && msg[1]! <= 207))
      raw.push({ kind, data: Buffer.from(msg) });
  };
  video.on('message', onPacket('video'));
  audio.on('message', onPacket('audio'));
  const args = buildFfmpegArgs({
    source: TESTPATTERN,
    videoPort: video.address().port,
    audioPort: audio.address().port,
    videoBitrateKbps: kbps,
    burnStrips: true,
    loop: false,
    listen: false,
    sourceHasAudio: true,
    fontFile,
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
  video.close();
  audio.close();
  if (code !== 0 && raw.length === 0) throw new Error(`ffmpeg failed (${code}): ${err.slice(-2000)}`);
  return fromRaw(raw, kbps, seconds);
}

function fromRaw(raw: Array<{ kind: 'audio' | 'video'; data: Buffer }>, kbps: number, seconds: number): Recording {
  const firstTs = { audio: -1, video: -1 };
  const packets: RecordedPacket[] = [];
  for (const { kind, data } of raw) {
    const ts = data.readUInt32BE(4);
    if (firstTs[kind] < 0) firstTs[kind] = ts;
    const rate = kind === 'video' ? 90 : 48;
    const atMs = ((ts - firstTs[kind] + 2 ** 32) % 2 ** 32) / rate;
    if (atMs < seconds * 1000) packets.push({ kind, atMs, data });
  }
  // Start on the first keyframe's frame so every loop starts decodable, and
  // order by send time (ffmpeg's two outputs interleave).
  packets.sort((a, b) => a.atMs - b.atMs);
  return { packets, durationMs: seconds * 1000, videoBitrateKbps: kbps };
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
    h.writeUInt8(p.kind === 'video' ? 1 : 0, 0);
    h.writeDoubleBE(p.atMs, 1);
    h.writeUInt16BE(p.data.length, 9);
    parts.push(h, p.data);
  }
  return Buffer.concat(parts);
}

function decode(buf: Buffer): Recording {
  const n = buf.readUInt32BE(0);
  const durationMs = buf.readUInt32BE(4);
  const videoBitrateKbps = buf.readUInt32BE(8);
  const packets: RecordedPacket[] = [];
  let off = 12;
  for (let i = 0; i < n; i++) {
    const kind = buf.readUInt8(off) === 1 ? 'video' : 'audio';
    const atMs = buf.readDoubleBE(off + 1);
    const len = buf.readUInt16BE(off + 9);
    packets.push({ kind, atMs, data: Buffer.from(buf.subarray(off + 11, off + 11 + len)) });
    off += 11 + len;
  }
  return { packets, durationMs, videoBitrateKbps };
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
  readonly #seqBase = { audio: 0, video: 0 };
  readonly #count = { audio: 0, video: 0 };
  bytesSent = 0;
  packetsSent = 0;

  constructor(rec: Recording, socket: Socket, target: { ip: string; port: number }) {
    this.#rec = rec;
    this.#socket = socket;
    this.#target = target;
    for (const p of rec.packets) this.#count[p.kind]++;
  }

  start(): void {
    this.#start = performance.now();
    this.#seqBase.audio = this.#rec.packets.find((p) => p.kind === 'audio')?.data.readUInt16BE(2) ?? 0;
    this.#seqBase.video = this.#rec.packets.find((p) => p.kind === 'video')?.data.readUInt16BE(2) ?? 0;
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
      out.writeUInt16BE((p.data.readUInt16BE(2) + this.#loop * this.#count[p.kind]) & 0xffff, 2);
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
