import type { types } from 'mediasoup';

/** Types shared by the stable program's classes (StableLayer, StableTrack, StableProgram). */

export interface SpliceInfo {
  kind: types.MediaKind;
  /** Simulcast layer (0: the lowest; the only one without simulcast). */
  layer: number;
  from: string | undefined;
  to: string;
  /** Wall time between the last packet of the old source and the first of the new one. */
  gapMs: number;
  rebased: boolean;
}

/** What a layer needs from its track: a way out, and a way to ask a source for a key frame. */
export interface LayerHost {
  /** Send a rewritten packet (this layer's SSRC) through the stable producer. */
  send(packet: Buffer): void;
  /** Ask the source for a key frame of this layer. */
  requestKeyFrame(sourceId: string, layer: number): void;
}

/** Output of a layer so far, for the RTCP Sender Reports of its stream. */
export interface LayerOutput {
  ts: number;
  /** performance.now() of the packet that set `ts`. */
  at: number;
  packets: number;
  octets: number;
}

/** What a pending switch waits for in the new source before it takes over. */
export type SpliceAt = 'now' | 'frame' | 'keyframe';

/** One simulcast layer as the media shows it: picture size from its last key frame, frame rate from its timestamps. */
export interface LayerInfo {
  spatialLayer: number;
  width?: number;
  height?: number;
  fps?: number;
}
