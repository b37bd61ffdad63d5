// IPC messages between the bench and its UDP sink child process.

/** 'MMLP': first payload bytes of a latency probe, then path id (u8), then send time (u64 ns, CLOCK_MONOTONIC). */
export const PROBE_MAGIC = 0x4d4d4c50;

export type SinkRequest =
  | { type: 'listen'; sockets: number }
  | { type: 'clocks'; clocks: Array<[number, number]> }
  | { type: 'reset' }
  | { type: 'report' };

export interface SinkReport {
  type: 'report';
  seconds: number;
  packets: number;
  /** Padding-only probation packets of mediasoup's bandwidth estimator (SSRC 1234), not media. */
  probation: number;
  bytes: number;
  ssrcs: number;
  expected: number;
  received: number;
  lost: number;
  jitterMeanMs: number;
  jitterMaxMs: number;
  /** Datagrams the kernel dropped because the sink did not read fast enough (not the relay's fault). */
  kernelDrops: number;
  /** The five SSRCs with most loss (diagnostics). */
  worst: Array<{ ssrc: number; pt: number; lost: number; received: number }>;
  /** One-way delays (µs) of latency probes, by receiving SSRC. */
  probes: Record<string, number[]>;
}

/** Build a probe payload for `path` sent now. */
export function probePayload(path: number, size = 160): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(PROBE_MAGIC, 0);
  b.writeUInt8(path, 4);
  b.writeBigUInt64BE(process.hrtime.bigint(), 5);
  return b;
}
