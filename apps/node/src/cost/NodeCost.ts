import type { CostLedger } from '@matchmesh/cluster';
import type { RegionBytes } from '@matchmesh/protocol';
import type { EgressMeter } from '@matchmesh/sfu';
import type { Logger } from 'pino';
import { type PriceConfig, regionUsdPerGb } from './prices.ts';

export interface NodeCostOptions {
  region: string;
  /** The workers' byte counters (WebRTC to viewers, pipes by destination region). */
  egress: Pick<EgressMeter, 'totalBytes' | 'pipeBytesByRegion' | 'sample'>;
  ledger: Pick<CostLedger, 'add'>;
  prices: PriceConfig;
  /** How often the deltas go to the ledger (the heartbeat period). */
  flushMs: number;
  log: Logger;
}

/**
 * This node's share of the night's cost: the bytes it sent to viewers
 * (WebRTC from the workers' transports, HLS from the HTTP responses) and the
 * region copies it sent to other regions, added into the cluster's ledger on
 * the heartbeat cadence. What stays inside a region or inside the host is
 * never priced: the plain RTP to the node's own packager, the pipes between
 * its workers, and pipes to relays of its own region (the provider's internal
 * network: region copies are fanned out there so viewers' bytes leave close
 * to them).
 *
 * Deltas that could not be added (Redis down) are kept and added with the
 * next flush, so an outage delays the figure but loses nothing.
 */
export class NodeCost {
  readonly #o: NodeCostOptions;
  #hls = 0;
  /** What the ledger already holds of this node's totals. */
  #flushed: RegionBytes = { webrtc: 0, hls: 0, pipes: 0 };
  #flushing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: NodeCostOptions) {
    this.#o = options;
  }

  /** HTTP bytes an HLS response put on the wire (headers and body). */
  countHls(bytes: number): void {
    if (bytes > 0) this.#hls += bytes;
  }

  /** This node's priced bytes since it started, by carrier. */
  get bytes(): RegionBytes {
    let pipes = 0;
    for (const [region, n] of this.#o.egress.pipeBytesByRegion) {
      // '' — a pipe whose far end did not say its region — is priced: better counted than missed.
      if (region !== this.#o.region) pipes += n;
    }
    return { webrtc: this.#o.egress.totalBytes.viewers, hls: this.#hls, pipes };
  }

  get cdnUsdPerGb(): number {
    return this.#o.prices.cdnUsdPerGb;
  }

  /** Price of a GB leaving this node's region. */
  get usdPerGb(): number {
    return regionUsdPerGb(this.#o.prices, this.#o.region);
  }

  /** This node's priced bytes since it started, and what they cost (the heartbeat's egress figures). */
  egress(): { bytes: number; usd: number } {
    const b = this.bytes;
    const bytes = b.webrtc + b.hls + b.pipes;
    return { bytes, usd: (bytes / 1e9) * this.usdPerGb };
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#o.flushMs).unref();
  }

  /** Add what the ledger does not hold yet. One flush at a time (a call during one joins it). */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = null;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const now = this.bytes;
    const delta = {
      webrtc: now.webrtc - this.#flushed.webrtc,
      hls: now.hls - this.#flushed.hls,
      pipes: now.pipes - this.#flushed.pipes,
    };
    if (delta.webrtc <= 0 && delta.hls <= 0 && delta.pipes <= 0) return;
    try {
      await this.#o.ledger.add(new Map([[this.#o.region, delta]]));
      this.#flushed = now;
    } catch (err) {
      this.#o.log.warn(
        { err: (err as Error).message, pending: delta },
        'cost ledger unreachable: bytes kept for the next flush',
      );
    }
  }

  /** Stop flushing, after one last sample of the workers and a last flush (a restart keeps what was sent). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#o.egress.sample().catch(() => undefined);
    await this.flush();
  }
}
