/*
 * The agent's side of "key frame now": the ingest's key-frame requests (PLI)
 * reach the encoder, except those arriving while a forced key frame is
 * already on its way. The mesh coalesces a stream's requests (at most one per
 * `MM_KEYFRAME_REQUEST_INTERVAL_MS` per layer), but with simulcast one
 * request reaches every layer's SSRC at once, so the agent gets a PLI per
 * layer within a millisecond: one key frame, forced in every layer on the same
 * source frame, answers them all. A request inside `windowMs` of the last
 * forwarded one is answered by that key frame and dropped (not deferred: by
 * the time a deferred one fired, the key frame would have arrived).
 */
export class KeyFrameGate {
  #lastForwardedAt = Number.NEGATIVE_INFINITY;
  /** Requests received, forwarded to the encoder, and dropped as answered by one in flight. */
  readonly counts = { received: 0, forwarded: 0, merged: 0 };

  constructor(
    private readonly windowMs: number,
    private readonly forward: () => boolean,
    private readonly now: () => number = () => performance.now(),
  ) {}

  request(): void {
    this.counts.received++;
    const t = this.now();
    if (t - this.#lastForwardedAt < this.windowMs) {
      this.counts.merged++;
      return;
    }
    // Only a request the encoder took starts the window (the ffmpeg encoder takes none).
    if (this.forward()) {
      this.#lastForwardedAt = t;
      this.counts.forwarded++;
    }
  }
}
