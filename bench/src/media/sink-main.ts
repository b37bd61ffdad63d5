// The viewers' end of the media path: a separate process (so its CPU is not
// the relay's) that binds a few loopback UDP sockets and receives what many
// PlainTransport consumers send. SRTP is not decrypted: the RTP header (seq,
// timestamp, SSRC) is in clear in SRTP, which is all loss and jitter need.
// Each consumer has its own SSRC, so one socket can serve many viewers.
//
// Latency probes: a packet whose payload starts with the PROBE magic (only
// readable on consumers without SRTP) carries the sender's CLOCK_MONOTONIC
// time, which is the same clock in every process of the machine.
import { createSocket, type Socket } from 'node:dgram';
import { udpDrops } from './procnet.ts';
import type { SinkReport, SinkRequest } from './sink-protocol.ts';
import { PROBE_MAGIC } from './sink-protocol.ts';

interface SsrcStat {
  first: number;
  /** Highest extended sequence number seen. */
  max: number;
  received: number;
  clock: number;
  jitter: number;
  lastTransit: number;
  hasTransit: boolean;
}

const sockets: Socket[] = [];
const ports: number[] = [];
let stats = new Map<number, SsrcStat>();
let clockByPt = new Map<number, number>();
let packets = 0;
let probation = 0;
const PROBATOR_SSRC = 1234;
let bytes = 0;
let probes: Record<string, number[]> = {};
let dropBase = 0;
let resetAt = performance.now();

function onMessage(msg: Buffer): void {
  packets++;
  bytes += msg.length;
  if (msg.length < 12) return;
  const b1 = msg[1]!;
  if (b1 >= 200 && b1 <= 207) return; // RTCP (sender reports)
  const seq = msg.readUInt16BE(2);
  const ts = msg.readUInt32BE(4);
  const ssrc = msg.readUInt32BE(8);
  // mediasoup's bandwidth probator sends padding-only packets with SSRC 1234
  // and its own sequence per transport; they are not media, so not loss.
  if (ssrc === PROBATOR_SSRC) {
    probation++;
    return;
  }
  const arrivalMs = performance.now();
  let s = stats.get(ssrc);
  if (!s) {
    s = {
      first: seq,
      max: seq,
      received: 0,
      clock: clockByPt.get(b1 & 0x7f) ?? 90000,
      jitter: 0,
      lastTransit: 0,
      hasTransit: false,
    };
    stats.set(ssrc, s);
  } else {
    // Extend the 16-bit seq around the highest one seen (RFC 3550 A.1, simplified).
    const cycle = s.max & ~0xffff;
    let ext = cycle | seq;
    if (ext < s.max - 0x8000) ext += 0x10000;
    else if (ext > s.max + 0x8000) ext -= 0x10000;
    if (ext > s.max) s.max = ext;
  }
  s.received++;
  // RFC 3550 interarrival jitter, in RTP clock units.
  const transit = (arrivalMs * s.clock) / 1000 - ts;
  if (s.hasTransit) {
    let d = transit - s.lastTransit;
    // Timestamp wrap makes one huge jump; ignore it rather than poison J.
    if (Math.abs(d) < s.clock * 10) {
      d = Math.abs(d);
      s.jitter += (d - s.jitter) / 16;
    }
  }
  s.lastTransit = transit;
  s.hasTransit = true;
  probe(msg, ssrc);
}

function probe(msg: Buffer, ssrc: number): void {
  // Payload offset: 12 + 4*CSRC count + header extension.
  const cc = msg[0]! & 0x0f;
  let off = 12 + 4 * cc;
  if (msg[0]! & 0x10) {
    if (msg.length < off + 4) return;
    off += 4 + 4 * msg.readUInt16BE(off + 2);
  }
  if (msg.length < off + 13 || msg.readUInt32BE(off) !== PROBE_MAGIC) return;
  // Keyed by SSRC: every consumer has its own, so the bench maps SSRC → path.
  const path = String(ssrc);
  const sentNs = msg.readBigUInt64BE(off + 5);
  const delayUs = Number(process.hrtime.bigint() - sentNs) / 1000;
  const list = probes[path] ?? [];
  list.push(delayUs);
  probes[path] = list;
}

function kernelDrops(): number {
  return udpDrops(ports);
}

function report(): SinkReport {
  let expected = 0;
  let received = 0;
  const jitters: number[] = [];
  for (const s of stats.values()) {
    expected += s.max - s.first + 1;
    received += s.received;
    jitters.push((s.jitter / s.clock) * 1000);
  }
  jitters.sort((a, b) => a - b);
  const worst = [...stats.entries()]
    .map(([ssrc, s]) => ({ ssrc, pt: s.clock, lost: s.max - s.first + 1 - s.received, received: s.received }))
    .sort((a, b) => b.lost - a.lost)
    .slice(0, 5);
  return {
    worst,
    type: 'report',
    seconds: (performance.now() - resetAt) / 1000,
    packets,
    probation,
    bytes,
    ssrcs: stats.size,
    expected,
    received,
    lost: Math.max(0, expected - received),
    jitterMeanMs: jitters.length ? jitters.reduce((a, b) => a + b, 0) / jitters.length : 0,
    jitterMaxMs: jitters.length ? jitters[jitters.length - 1]! : 0,
    kernelDrops: kernelDrops() - dropBase,
    probes,
  };
}

async function listen(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    // As deep as the system allows (net.core.rmem_max): keyframe bursts of
    // hundreds of viewers arrive at once.
    s.setRecvBufferSize(64 * 1024 * 1024);
    s.on('message', onMessage);
    sockets.push(s);
    ports.push(s.address().port);
  }
}

process.on('message', async (raw: unknown) => {
  const req = raw as SinkRequest;
  switch (req.type) {
    case 'listen':
      await listen(req.sockets);
      process.send!({ type: 'ready', ports, recvBuffer: sockets[0]!.getRecvBufferSize() });
      break;
    case 'clocks':
      clockByPt = new Map(req.clocks);
      process.send!({ type: 'ok' });
      break;
    case 'reset':
      stats = new Map();
      packets = 0;
      probation = 0;
      bytes = 0;
      probes = {};
      dropBase = kernelDrops();
      resetAt = performance.now();
      process.send!({ type: 'ok' });
      break;
    case 'report':
      process.send!(report());
      break;
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'started' });
