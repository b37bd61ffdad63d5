import { parseScoreMessage, SCORE_CHANNEL_LABEL, type ScoreUpdate } from '@matchmesh/protocol';
import type { types as ms } from 'mediasoup-client';
import { SignalingRequestError } from './errors.ts';
import type { SignalingClient, SignalingResponseData } from './SignalingClient.ts';

export interface ScoreChannelOptions {
  signaling: SignalingClient;
  /** The session is closed: a DataConsumer that arrives late is closed at once. */
  isClosed(): boolean;
  onScore(update: ScoreUpdate): void;
  onWarning(error: Error): void;
}

/**
 * The score DataChannel of one WebRTC session: asked for as early as the
 * transport exists (updates produced between the join snapshot and the
 * node's DataConsumer are lost, so that window is kept short), consumed once,
 * and each message parsed with the protocol's schema before it reaches the
 * score feed. The node closes it when the origin's DataProducer goes away;
 * the session subscribes again on the next newProducers.
 */
export class ScoreChannel {
  readonly #o: ScoreChannelOptions;
  #dataConsumer: ms.DataConsumer | null = null;
  /** Messages that were not a valid score update (counted in the session's stats). */
  invalid = 0;

  constructor(options: ScoreChannelOptions) {
    this.#o = options;
  }

  /**
   * Asks the node for the scores DataConsumer; resolves null when there is none
   * to consume ('not_found': no scores yet, the next newProducers retries) or the
   * request failed (scores are not worth failing the video for).
   */
  request(transportId: string): Promise<SignalingResponseData<'consumeData'> | null> {
    return this.#o.signaling.request('consumeData', { transportId }).catch((error: unknown) => {
      if (!(error instanceof SignalingRequestError && error.code === 'not_found')) {
        this.#o.onWarning(error instanceof Error ? error : new Error(String(error)));
      }
      return null;
    });
  }

  /** Subscribes on `transport` if not already (optionally with a request already made). */
  async consume(
    transport: ms.Transport,
    prefetched?: Promise<SignalingResponseData<'consumeData'> | null>,
  ): Promise<void> {
    if (this.#dataConsumer) return;
    const info = await (prefetched ?? this.request(transport.id));
    if (!info || this.#o.isClosed()) return;
    const dataConsumer = await transport.consumeData({
      id: info.id,
      dataProducerId: info.dataProducerId,
      sctpStreamParameters: info.sctpStreamParameters,
      label: info.label || SCORE_CHANNEL_LABEL,
      protocol: info.protocol,
    });
    if (this.#o.isClosed()) {
      dataConsumer.close();
      return;
    }
    this.#dataConsumer = dataConsumer;
    dataConsumer.on('message', (data: unknown) => this.#onMessage(data));
    const forget = (): void => {
      if (this.#dataConsumer === dataConsumer) this.#dataConsumer = null;
    };
    dataConsumer.on('close', forget);
    dataConsumer.on('transportclose', forget);
  }

  close(): void {
    this.#dataConsumer?.close();
    this.#dataConsumer = null;
  }

  #onMessage(data: unknown): void {
    let text: string;
    if (typeof data === 'string') text = data;
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) text = new TextDecoder().decode(data);
    else {
      this.invalid++;
      return;
    }
    const parsed = parseScoreMessage(text);
    if (!parsed.success) {
      this.invalid++;
      this.#o.onWarning(new Error(`invalid score message: ${parsed.error.message.slice(0, 200)}`));
      return;
    }
    this.#o.onScore(parsed.data);
  }
}
