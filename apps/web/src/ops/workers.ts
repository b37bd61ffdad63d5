import { type NodeRecord, WORKER_CPU_SATURATED } from '@matchmesh/protocol';

/** One worker of a node as the ops page shows it. */
export interface WorkerCell {
  index: number;
  /** e.g. "w0 120/150 · 64 %" */
  label: string;
  /** At or over its viewer capacity. */
  full: boolean;
  /** CPU at or over saturation (placement sends it no viewer; the CPU alert fires). */
  hot: boolean;
}

/**
 * The per-worker figures of a node's record (viewers/capacity, CPU of its
 * core), by worker index. Empty for a node older than per-worker load.
 */
export function workerCells(node: NodeRecord): WorkerCell[] {
  return [...(node.load.workers ?? [])]
    .sort((a, b) => a.index - b.index)
    .map((w) => ({
      index: w.index,
      label: `w${w.index} ${w.viewers}/${w.capacity} · ${Math.round(w.cpu * 100)} %`,
      full: w.viewers >= w.capacity,
      hot: w.cpu >= WORKER_CPU_SATURATED,
    }));
}
