import type { types } from 'mediasoup';

/**
 * Where bytes leave a node: to viewers (WebRTC), to other nodes (region copies
 * over pipes), or elsewhere — what never leaves the host or is only feedback:
 * the plain RTP to the node's own HLS packager, the pipes between the node's
 * own workers (`pipeToRouter`), RTCP back to a publisher or an upstream.
 */
export type EgressKind = 'viewers' | 'pipes' | 'other';
export type EgressBytes = Record<EgressKind, number>;

/** What a transport's bytes are: its kind, and for a region copy the region it goes to. */
export interface EgressTarget {
  kind: EgressKind;
  /** Region at the other end of an outgoing pipe (its appData, set by PipeOut). */
  region?: string;
}

/**
 * A transport's kind, from what its creator put in its appData: viewers'
 * transports (signaling peers' receive side, WHEP) carry media out; a WHIP
 * session's or a commentator's send transport only returns RTCP; only a
 * pipe opened by PipeOut (`pipe: 'out'`) carries a region copy to another node.
 */
export function egressTargetOf(transport: Pick<types.Transport, 'type' | 'appData'>): EgressTarget {
  const app = transport.appData as { role?: unknown; direction?: unknown; pipe?: unknown; region?: unknown };
  if (transport.type === 'webrtc') {
    return app.role === 'publisher' || app.direction === 'send' ? { kind: 'other' } : { kind: 'viewers' };
  }
  if (transport.type === 'pipe' && app.pipe === 'out') {
    return typeof app.region === 'string' ? { kind: 'pipes', region: app.region } : { kind: 'pipes' };
  }
  return { kind: 'other' };
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
  readonly #targets = new WeakMap<types.Transport, EgressTarget>();
  readonly #total: EgressBytes = { viewers: 0, pipes: 0, other: 0 };
  /** Pipe bytes by the region at the other end. */
  readonly #pipesTo = new Map<string, number>();
  #bitrateOut = 0;
  #sampledAt = Date.now();
  #round: Promise<void> | null = null;

  watchWorker(worker: types.Worker): void {
    worker.observer.on('newrouter', (router) => {
      router.observer.on('newtransport', (transport) => {
        if (transport.type === 'direct') return; // in-process, nothing leaves the node
        this.#transports.set(transport, 0);
        this.#targets.set(transport, egressTargetOf(transport));
        transport.observer.once('close', () => this.#transports.delete(transport));
      });
    });
  }

  /** Bytes sent since the node started, by kind. */
  get totalBytes(): EgressBytes {
    return { ...this.#total };
  }

  /** Bytes sent over pipes since the node started, by the region at the other end (unnamed: ''). */
  get pipeBytesByRegion(): Map<string, number> {
    return new Map(this.#pipesTo);
  }

  /** Bits per second sent over the last sample period, all kinds. */
  get bitrateOut(): number {
    return this.#bitrateOut;
  }

  /**
   * Ask every transport for its byte count and fold the deltas in. One round
   * at a time (a call while a round runs joins it), with at most
   * SAMPLE_CONCURRENCY stats requests in flight: a worker busy forwarding to
   * hundreds of viewers answers its channel slowly, and rounds that overlap,
   * or hundreds of requests queued at once, would back the channel up until
   * viewers' own requests (join, consume) wait seconds behind them — the bench
   * saw exactly that at 300+ viewers before this limit.
   */
  sample(): Promise<void> {
    this.#round ??= this.#sampleRound().finally(() => {
      this.#round = null;
    });
    return this.#round;
  }

  async #sampleRound(): Promise<void> {
    let delta = 0;
    const list = [...this.#transports.keys()];
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < list.length) {
        const transport = list[next++]!;
        try {
          // Every transport type's stats carry bytesSent (the union type does not say so).
          const [stat] = (await transport.getStats()) as { bytesSent?: number }[];
          const last = this.#transports.get(transport);
          if (last === undefined) continue;
          const bytes = stat?.bytesSent ?? last;
          this.#transports.set(transport, bytes);
          const d = Math.max(0, bytes - last);
          const target = this.#targets.get(transport) ?? egressTargetOf(transport);
          this.#total[target.kind] += d;
          if (target.kind === 'pipes') {
            const region = target.region ?? '';
            this.#pipesTo.set(region, (this.#pipesTo.get(region) ?? 0) + d);
          }
          delta += d;
        } catch {
          // Closed meanwhile: its last sample stands.
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SAMPLE_CONCURRENCY, list.length) }, lane));
    const now = Date.now();
    const seconds = (now - this.#sampledAt) / 1000;
    if (seconds > 0) this.#bitrateOut = (delta * 8) / seconds;
    this.#sampledAt = now;
  }
}

/** Stats requests one sampling round keeps in flight. */
const SAMPLE_CONCURRENCY = 4;
