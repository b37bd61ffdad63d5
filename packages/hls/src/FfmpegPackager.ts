import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { reserveRtpPorts as reserveLocalRtpPorts, type TappedTrack } from '@matchmesh/sfu';
import { Fmp4Splitter, type Fragment, type InitSegment } from './fmp4.ts';

export interface PackagerTrack extends TappedTrack {
  /** Local UDP port ffmpeg reads this track's RTP from (RTCP would be port + 1). */
  port: number;
}

/** The SDP ffmpeg reads: plain RTP/AVP on loopback, one m= line per track. */
export function buildPackagerSdp(tracks: PackagerTrack[]): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=matchmesh-hls', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const t of tracks) {
    const codec = t.mimeType.split('/')[1]!;
    lines.push(`m=${t.kind} ${t.port} RTP/AVP ${t.payloadType}`);
    lines.push(
      `a=rtpmap:${t.payloadType} ${codec}/${t.clockRate}${t.channels && t.channels > 1 ? `/${t.channels}` : ''}`,
    );
    const fmtp = Object.entries(t.parameters)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(';');
    if (fmtp) lines.push(`a=fmtp:${t.payloadType} ${fmtp}`);
    lines.push('a=recvonly');
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Seconds ffmpeg adds to every output timestamp (so that none is negative). */
export const PACKAGER_TS_OFFSET_S = 10;

/**
 * What one ffmpeg run outputs: a video rendition (video copied + the program
 * audio as AAC), or an audio-only rendition (`audioOnly`: the SDP's audio
 * inputs — venue first, then a language's commentary — summed by `amix` into
 * one AAC track).
 */
export interface PackagerOutput {
  partMs: number;
  audioBitrateKbps: number;
  hasAudio: boolean;
  /** Audio-only rendition mixing this many audio inputs (1: the venue sound alone). */
  audioOnly?: number;
}

/** ffmpeg's mapping and codec arguments for an output (see PackagerOutput). */
function mapArgs(opts: PackagerOutput): string[] {
  const aac = ['-c:a', 'aac', '-b:a', `${opts.audioBitrateKbps}k`, '-ac', '2'];
  if (opts.audioOnly === undefined) {
    return ['-map', '0:v:0', ...(opts.hasAudio ? ['-map', '0:a:0', ...aac] : []), '-c:v', 'copy'];
  }
  if (opts.audioOnly < 2) return ['-map', '0:a:0', ...aac];
  // Summed as the WebRTC viewer's browser sums the venue and commentary tracks
  // (normalize=0: no halving of each). duration=first: the venue decides; both
  // tracks flow continuously (the commentary mix is encoded without DTX).
  const inputs = Array.from({ length: opts.audioOnly }, (_, i) => `[0:a:${i}]`).join('');
  return [
    '-filter_complex',
    `${inputs}amix=inputs=${opts.audioOnly}:duration=first:dropout_transition=0:normalize=0[mix]`,
    '-map',
    '[mix]',
    ...aac,
  ];
}

export function packagerArgs(sdpPath: string, opts: PackagerOutput): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-protocol_whitelist',
    'file,udp,rtp',
    // Live input: analyse briefly (the relay starts with the parameter sets).
    // Not +nobuffer: that drops the packets read while analysing, i.e. the
    // first key frame, and the output would wait for the next GOP.
    '-analyzeduration',
    '100000',
    '-probesize',
    '100000',
    // Without input for this long (publisher gone, or this node died and
    // left us orphaned) ffmpeg exits instead of waiting forever.
    '-rw_timeout',
    '5000000',
    '-reorder_queue_size',
    '0',
    // Keep the demuxer's timestamps (RTP time minus the first packet's):
    // no shift to the earliest stream's start time ...
    '-copyts',
    '-i',
    sdpPath,
    ...mapArgs(opts),
    // AAC priming makes audio start slightly before 0; with no shifting
    // allowed (below) that would be a negative tfdt. Move everything later by
    // a constant instead (HlsStream subtracts it again).
    '-output_ts_offset',
    String(PACKAGER_TS_OFFSET_S),
    '-f',
    'mp4',
    // Fragments start at every key frame and at least every part target:
    // ffmpeg cuts when the next sample is >= frag_duration after the
    // fragment's start, so aim a little under the part target.
    '-movflags',
    'frag_keyframe+empty_moov+default_base_moof+frag_discont',
    // ... and (frag_discont, no edit list) tfdt is that timestamp as is,
    // not re-based to the first sample ffmpeg writes (which may be a later
    // key frame than the first one we sent). So fMP4 decode time = RTP
    // time - the first packet's, for every sample.
    '-use_editlist',
    '0',
    // Without an edit list the mp4 muxer would shift every track so that the
    // earliest packet (often audio) starts at 0.
    '-avoid_negative_ts',
    'disabled',
    '-frag_duration',
    String(Math.round(opts.partMs * 1000 * 0.9)),
    '-flush_packets',
    '1',
    'pipe:1',
  ];
}

/** Two consecutive free UDP ports (RTP, RTCP) per track, for the packager's ffmpeg (sfu localPorts). */
export function reserveRtpPorts(count: number, min = 30000, max = 39998): Promise<number[]> {
  return reserveLocalRtpPorts(count, min, max, 'the HLS packager');
}

/** UDP ports bound on this host right now (Linux /proc/net/udp; empty set elsewhere). */
function boundUdpPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    // Synchronous on purpose: a few KB from procfs, and it must not queue
    // behind disk work on libuv's thread pool.
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not Linux: no check
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      const port = local?.split(':')[1];
      if (port) ports.add(Number.parseInt(port, 16));
    }
  }
  return ports;
}

/**
 * Wait until ffmpeg has bound its RTP ports. Packets sent before that are
 * lost, and ffmpeg would then take a later packet as its timestamp base —
 * and stretch its first sample back to it — which breaks the exact mapping
 * of output decode times to RTP time.
 */
async function waitForBound(ports: number[], timeoutMs: number, exited: () => boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && !exited()) {
    const bound = boundUdpPorts();
    if (bound.size === 0 || ports.every((p) => bound.has(p))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface FfmpegPackagerEvents {
  init: [init: InitSegment];
  fragment: [fragment: Fragment];
  exit: [code: number | null, stderr: string];
}

/**
 * One ffmpeg run: RTP in (SDP), fragmented MP4 out on stdout, cut into the
 * init segment and fragments by Fmp4Splitter. Video is copied; Opus audio is
 * encoded to AAC so every HLS player can play it (audio-only renditions: the
 * audio inputs mixed first).
 */
export class FfmpegPackager extends EventEmitter<FfmpegPackagerEvents> {
  readonly #child: ChildProcess;
  #stderr = '';
  #exited = false;

  private constructor(child: ChildProcess) {
    super();
    this.#child = child;
    const splitter = new Fmp4Splitter();
    splitter.on('init', (init) => this.emit('init', init));
    splitter.on('fragment', (f) => this.emit('fragment', f));
    splitter.on('error', () => child.kill('SIGKILL'));
    child.stdout!.on('data', (chunk: Buffer) => splitter.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.once('exit', (code) => {
      this.#exited = true;
      this.emit('exit', code, this.#stderr);
    });
  }

  static async start(
    dir: string,
    tracks: PackagerTrack[],
    opts: { ffmpegPath: string; partMs: number; audioBitrateKbps: number; audioOnly?: boolean },
  ): Promise<FfmpegPackager> {
    const sdpPath = path.join(dir, 'input.sdp');
    await writeFile(sdpPath, buildPackagerSdp(tracks));
    const audioInputs = tracks.filter((t) => t.kind === 'audio').length;
    const args = packagerArgs(sdpPath, {
      partMs: opts.partMs,
      audioBitrateKbps: opts.audioBitrateKbps,
      hasAudio: audioInputs > 0,
      audioOnly: opts.audioOnly ? audioInputs : undefined,
    });
    const child = spawn(opts.ffmpegPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const packager = new FfmpegPackager(child);
    await waitForBound(
      tracks.map((t) => t.port),
      5000,
      () => packager.#exited,
    );
    return packager;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Stop ffmpeg; resolves when it has exited. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}
