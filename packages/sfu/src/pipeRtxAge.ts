/**
 * The pipe retransmission age bound (worker recipe patch 003,
 * packages/sfu/worker-build/README.md): a pipe consumer does not retransmit a
 * NACKed packet whose media is more than `fixedMs + rttFactor × RTT` behind
 * the newest packet it sent (RTT: the pipe stream's own, from the receiver's
 * reports). Across a long haul such a copy lands after its frame was due at
 * the far viewers, and only costs bytes on the haul.
 */
export interface PipeRtxMaxAge {
  /** Fixed part of the bound (ms). */
  fixedMs: number;
  /** Multiple of the pipe's measured round trip added to it. */
  rttFactor: number;
}

/**
 * `auto`: far viewers hold two round trips (packages/mesh playout.ts, auto); a
 * retransmission sent when its packet is `age` old lands half a round trip
 * later, so past 1.5 round trips it misses the frame. The 50 ms on top cover
 * the loss detection (a frame's last packet is missed only when the next frame
 * comes, 33 ms at 30 fps) and the browser's own decode margin.
 */
export const PIPE_RTX_MAX_AGE_AUTO: PipeRtxMaxAge = { fixedMs: 50, rttFactor: 1.5 };

/** The worker's environment names (read once per worker process by the patched worker). */
export const PIPE_RTX_ENV = {
  fixedMs: 'MATCHMESH_PIPE_RTX_MAX_AGE_MS',
  rttFactor: 'MATCHMESH_PIPE_RTX_MAX_AGE_RTT',
} as const;

/** The variables a worker gets: both absent (undefined) when there is no bound — mediasoup's behaviour. */
export function pipeRtxWorkerEnv(bound: PipeRtxMaxAge | undefined): Record<string, string | undefined> {
  if (!bound || (bound.fixedMs === 0 && bound.rttFactor === 0)) {
    return { [PIPE_RTX_ENV.fixedMs]: undefined, [PIPE_RTX_ENV.rttFactor]: undefined };
  }
  return { [PIPE_RTX_ENV.fixedMs]: String(bound.fixedMs), [PIPE_RTX_ENV.rttFactor]: String(bound.rttFactor) };
}

/**
 * Runs `spawn` (synchronously: mediasoup's createWorker spawns the process
 * before it returns its promise, with `...process.env`) with `env` in
 * process.env, then puts process.env back as it was.
 */
export function withWorkerEnv<T>(env: Record<string, string | undefined>, spawn: () => T): T {
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  const put = (k: string, v: string | undefined) => {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  for (const [k, v] of Object.entries(env)) put(k, v);
  try {
    return spawn();
  } finally {
    for (const [k, v] of saved) put(k, v);
  }
}
