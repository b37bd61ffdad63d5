/*
 * What the origin's encode costs: runs the real ffmpeg ladder (the agent's
 * exact arguments) for a few seconds, reads its CPU time from /proc, and
 * counts what each layer delivered (frames/s, kbit/s, key frames). The
 * marginal cost of each layer is the full ladder's CPU minus the CPU of the
 * ladder without that layer (ffmpeg 5.1 runs the encoders one after the other
 * in one thread, so per-thread figures would not separate them).
 *
 *   npx tsx apps/origin/bench/ladder-cpu.ts [--source testpattern|<file>] [--ladder <MM_LADDER>]
 *        [--seconds 10] [--preset ultrafast] [--marginal]
 *
 * Figures only (report, not assert): the machine is shared.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildFfmpegArgs, findFont, TESTPATTERN, type X264Preset } from '../src/ffmpeg-args.ts';
import { capLadderFps, DEFAULT_LADDER, type LadderLayer, parseLadder } from '../src/ladder.ts';
import { PATTERN_FPS } from '../src/pattern-layout.ts';
import { isRtcp } from '../src/rtp.ts';

interface LayerFigures {
  layer: string;
  fps: number;
  kbps: number;
  keyframes: number;
}

export interface LadderRun {
  ladder: string;
  cpuPercent: number;
  layers: LayerFigures[];
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
}

/** IDR or SPS at the start of a frame: a single NAL, STAP-A or the first FU-A fragment. */
function startsKeyframe(payload: Buffer): boolean {
  const type = payload[0]! & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 24) return ((payload[3] ?? 0) & 0x1f) === 7 || ((payload[3] ?? 0) & 0x1f) === 5;
  if (type === 28) return (payload[1]! & 0x80) !== 0 && (payload[1]! & 0x1f) === 5;
  return false;
}

function payloadOf(packet: Buffer): Buffer {
  const cc = packet[0]! & 0x0f;
  let off = 12 + 4 * cc;
  if (packet[0]! & 0x10) off += 4 + 4 * packet.readUInt16BE(off + 2);
  return packet.subarray(off);
}

export async function runLadder(
  source: string,
  layers: LadderLayer[],
  seconds: number,
  preset: X264Preset,
  warmupMs = 2000,
): Promise<LadderRun> {
  const sockets: Socket[] = [];
  const counters = layers.map(() => ({
    frames: new Set<number>(),
    bytes: 0,
    keyframes: new Set<number>(),
    counting: false,
  }));
  for (let i = 0; i <= layers.length; i++) {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    s.setRecvBufferSize(8 * 1024 * 1024);
    const c = counters[i];
    if (c) {
      s.on('message', (m) => {
        if (!c.counting || isRtcp(m)) return;
        c.frames.add(m.readUInt32BE(4));
        c.bytes += m.length;
        // A key frame is counted once, by its timestamp (SPS and every IDR slice share it).
        if (startsKeyframe(payloadOf(m))) c.keyframes.add(m.readUInt32BE(4));
      });
    }
    sockets.push(s);
  }
  const args = buildFfmpegArgs({
    source,
    videoPort: 0,
    audioPort: sockets.at(-1)!.address().port,
    videoBitrateKbps: 0,
    burnStrips: false,
    loop: true,
    listen: false,
    sourceHasAudio: source === TESTPATTERN,
    fontFile: findFont(),
    ladder: {
      layers,
      layerPorts: sockets.slice(0, -1).map((s) => s.address().port),
      keyframeIntervalMs: 1000,
      preset,
    },
  });
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-2000);
  });
  try {
    await new Promise((r) => setTimeout(r, warmupMs));
    if (child.exitCode !== null) throw new Error(`ffmpeg exited: ${stderr}`);
    for (const c of counters) c.counting = true;
    const t0 = cpuTicks(child.pid!);
    const w0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const ticks = cpuTicks(child.pid!) - t0;
    const wall = (performance.now() - w0) / 1000;
    for (const c of counters) c.counting = false;
    return {
      ladder: layers.map((l) => `${l.width}x${l.height}@${l.maxFps}:${l.kbps}`).join(','),
      cpuPercent: (100 * ticks) / 100 / wall, // USER_HZ = 100 on Linux
      layers: layers.map((l, i) => ({
        layer: `${l.width}x${l.height}`,
        fps: counters[i]!.frames.size / wall,
        kbps: (counters[i]!.bytes * 8) / 1000 / wall,
        keyframes: counters[i]!.keyframes.size,
      })),
    };
  } finally {
    child.kill('SIGKILL');
    for (const s of sockets) s.close();
  }
}

export interface LadderCpu {
  full: LadderRun;
  /** Per layer (lowest first): the ladder's CPU minus the CPU of the ladder without it, % of one core. */
  marginal: Array<{ layer: string; cpuPercent: number; withoutPercent: number }>;
}

/** The whole ladder, then (with `marginal`) the ladder without each layer in turn. */
export async function measureLadderCpu(
  source: string,
  ladderText: string,
  seconds: number,
  preset: X264Preset = 'ultrafast',
  marginal = true,
): Promise<LadderCpu> {
  const parsed = parseLadder(ladderText);
  const layers = source === TESTPATTERN ? capLadderFps(parsed, PATTERN_FPS) : parsed;
  const full = await runLadder(source, layers, seconds, preset);
  const out: LadderCpu = { full, marginal: [] };
  if (!marginal || layers.length < 2) return out;
  for (let i = 0; i < layers.length; i++) {
    const without = layers.filter((_, j) => j !== i).map((l, j) => ({ ...l, rid: `r${j}` }));
    const run = await runLadder(source, without, seconds, preset);
    const l = layers[i]!;
    out.marginal.push({
      layer: `${l.width}x${l.height}@${l.maxFps}:${l.kbps}`,
      cpuPercent: full.cpuPercent - run.cpuPercent,
      withoutPercent: run.cpuPercent,
    });
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      source: { type: 'string', default: TESTPATTERN },
      ladder: { type: 'string', default: DEFAULT_LADDER },
      seconds: { type: 'string', default: '10' },
      preset: { type: 'string', default: 'ultrafast' },
      marginal: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const preset = values.preset as X264Preset;
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`source ${values.source}, preset ${preset}, ${seconds} s per run, load ${load()}`);
  const r = await measureLadderCpu(values.source!, values.ladder!, seconds, preset, values.marginal);
  console.log(JSON.stringify(r.full));
  for (const m of r.marginal) {
    console.log(
      `layer ${m.layer}: marginal ${m.cpuPercent.toFixed(1)} % of a core (ladder without it: ${m.withoutPercent.toFixed(1)} %)`,
    );
  }
  console.log(`load ${load()}`);
}

if (process.argv[1]?.endsWith('ladder-cpu.ts')) await main();
