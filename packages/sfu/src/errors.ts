/**
 * A media-layer refusal the edge can turn into an HTTP problem or a signaling
 * error. `status` follows the WHIP/WHEP conventions (400 malformed SDP,
 * 422 nothing acceptable in it, 409 conflict with what is already flowing).
 */
export type MediaErrorCode =
  | 'bad_sdp'
  | 'unsupported_media'
  | 'stream_not_live'
  | 'already_publishing'
  | 'codec_mismatch'
  | 'bad_simulcast'
  | 'not_found'
  | 'closed'
  | 'node_full';

const STATUS: Record<MediaErrorCode, number> = {
  bad_sdp: 400,
  unsupported_media: 422,
  stream_not_live: 409,
  already_publishing: 409,
  codec_mismatch: 422,
  // A simulcast offer the mesh cannot take: too many layers, unknown/malformed rids, bad restrictions, audio.
  bad_simulcast: 422,
  not_found: 404,
  closed: 410,
  // Every worker is at capacity: try again shortly, or another relay of the region.
  node_full: 503,
};

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  readonly status: number;

  constructor(code: MediaErrorCode, message: string) {
    super(message);
    this.name = 'MediaError';
    this.code = code;
    this.status = STATUS[code];
  }
}

/**
 * An error mediasoup raised while we built objects from a peer's offer: the
 * offer's fault (a combination the worker refuses) unless the worker or
 * router went away, which is ours and stays an internal error.
 */
export function offerRejection(err: unknown): unknown {
  const name = (err as Error)?.name;
  if (err instanceof MediaError || name === 'InvalidStateError' || name === 'WorkerClosedError') return err;
  return new MediaError('unsupported_media', `the media server refused the offer: ${(err as Error)?.message ?? err}`);
}
