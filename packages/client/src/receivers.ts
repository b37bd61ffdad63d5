/** jitterBufferTarget (Chromium 114+, Firefox): absent from older browsers and from TypeScript's DOM types. */
type PlayoutReceiver = RTCRtpReceiver & { jitterBufferTarget?: number | null };

/**
 * Ask the browser to hold `ms` of media before playing it: on a relay at the far
 * end of a long haul, a packet lost on the haul is retransmitted across it
 * before its frame is due. Browsers without the property keep their own delay.
 */
export function setPlayoutDelay(receiver: RTCRtpReceiver | undefined, ms: number): void {
  const r = receiver as PlayoutReceiver | undefined;
  // null: no target, the browser's own adaptive delay (0 would ask for the least delay possible).
  if (r && 'jitterBufferTarget' in r) r.jitterBufferTarget = ms > 0 ? ms : null;
}

export function playoutDelayOf(receiver: RTCRtpReceiver | undefined): number | undefined {
  const t = (receiver as PlayoutReceiver | undefined)?.jitterBufferTarget;
  return typeof t === 'number' ? t : undefined;
}

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
