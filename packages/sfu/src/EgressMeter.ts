import type { types } from 'mediasoup';

/** Where bytes leave a node: to viewers (WebRTC), to other nodes (pipes), or elsewhere (plain RTP, e.g. packagers). */
export type EgressKind = 'viewers' | 'pipes' | 'other';
export type EgressBytes = Record<EgressKind, number>;

function kindOf(transport: types.Transport): EgressKind {
  if (transport.type === 'webrtc') return 'viewers';
  if (transport.type === 'pipe') return 'pipes';
  return 'other';
}

/**
 * Bytes the node's workers send, by kind, sampled from every live transport's
 * stats. It is what ops pay for (egress) and what placement balances
 * (bitrate out). mediasoup keeps no worker-wide byte counter, so each
 * transport is asked every `intervalMs`; a transport's bytes after its last
 * sample are not counted when it closes (at most one interval's worth).
 */
export class EgressMeter {
  readonly #transports = new Map<types.Transport, number>();
  readonly #total: EgressBytes = { viewers: 0, pipes: 0, other: 0 };
  #bitrateOut = 0;
  #sampledAt = Date.now();

  watchWorker(worker: types.Worker): void {
    worker.observer.on('newrouter', (router) => {
      router.observer.on('newtransport', (transport) => {
        if (transport.type === 'direct') return; // in-process, nothing leaves the node
        this.#transports.set(transport, 0);
        transport.observer.once('close', () => this.#transports.delete(transport));
      });
    });
  }

  /** Bytes sent since the node started, by kind. */
  get totalBytes(): EgressBytes {
    return { ...this.#total };
  }

  /** Bits per second sent over the last sample period, all kinds. */
  get bitrateOut(): number {
    return this.#bitrateOut;
  }

  /** Ask every transport for its byte count and fold the deltas in. */
  async sample(): Promise<void> {
    let delta = 0;
    await Promise.all(
      [...this.#transports].map(async ([transport, last]) => {
        try {
          // Every transport type's stats carry bytesSent (the union type does not say so).
          const [stat] = (await transport.getStats()) as { bytesSent?: number }[];
          const bytes = stat?.bytesSent ?? last;
          if (!this.#transports.has(transport)) return;
          this.#transports.set(transport, bytes);
          const d = Math.max(0, bytes - last);
          this.#total[kindOf(transport)] += d;
          delta += d;
        } catch {
          // Closed meanwhile: its last sample stands.
        }
      }),
    );
    const now = Date.now();
    const seconds = (now - this.#sampledAt) / 1000;
    if (seconds > 0) this.#bitrateOut = (delta * 8) / seconds;
    this.#sampledAt = now;
  }
}
