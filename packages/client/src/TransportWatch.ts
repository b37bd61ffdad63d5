import type { types as ms } from 'mediasoup-client';
import type { SessionLifecycle } from './SessionLifecycle.ts';
import { markStep } from './timing.ts';
import type { WebRtcSessionOptions } from './WebRtcSessionTypes.ts';

export interface TransportWatchOptions {
  /** The session's ICE deadline and disconnection grace (WebRtcSessionOptions). */
  session: Readonly<Pick<WebRtcSessionOptions, 'iceTimeoutMs' | 'disconnectedTimeoutMs'>>;
  /** The session's state, which the transport's connection state moves. */
  life: SessionLifecycle;
  transport(): ms.Transport | null;
  /** How many consumers the session has: connected without any is 'waiting-for-media'. */
  consumerCount(): number;
}

/**
 * A WebRTC session's transport watched: ICE+DTLS must be up `iceTimeoutMs` after the first use of the
 * transport (the Player falls back rather than waiting for the browser's own ~30 s ICE failure), and a
 * 'disconnected' transport fails the session if it stays so `disconnectedTimeoutMs`.
 */
export class TransportWatch {
  readonly #o: TransportWatchOptions;
  #iceTimer: ReturnType<typeof setTimeout> | undefined;
  #disconnectedTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: TransportWatchOptions) {
    this.#o = options;
  }

  /** The transport's first use (its DTLS parameters go to the node): the ICE deadline starts, once. */
  armIceTimer(): void {
    if (this.#iceTimer !== undefined) return;
    const timeoutMs = this.#o.session.iceTimeoutMs ?? 5_000;
    this.#iceTimer = setTimeout(() => {
      if (this.#o.transport()?.connectionState !== 'connected' && this.#o.life.state === 'connecting') {
        this.#o.life.fail({ kind: 'ice-timeout' });
      }
    }, timeoutMs);
  }

  onConnectionState(state: ms.ConnectionState): void {
    const life = this.#o.life;
    if (life.closed) return;
    switch (state) {
      case 'connected':
        markStep('transport-connected');
        clearTimeout(this.#iceTimer);
        clearTimeout(this.#disconnectedTimer);
        this.#disconnectedTimer = undefined;
        life.set('connected', this.#o.consumerCount() === 0 ? 'waiting-for-media' : 'playing');
        break;
      case 'disconnected':
        life.set('connecting', 'ice-disconnected');
        if (this.#disconnectedTimer === undefined) {
          this.#disconnectedTimer = setTimeout(
            () => life.fail({ kind: 'ice-disconnected' }),
            this.#o.session.disconnectedTimeoutMs ?? 8_000,
          );
        }
        break;
      case 'failed':
        life.fail({ kind: 'ice-failed' });
        break;
      default:
        break;
    }
  }

  /** The session's teardown: no timer fires any more. */
  close(): void {
    clearTimeout(this.#iceTimer);
    clearTimeout(this.#disconnectedTimer);
  }
}
