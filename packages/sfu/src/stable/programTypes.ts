import type { types } from 'mediasoup';
import { DEFAULT_FEED_WINDOW } from './FeedPacer.ts';
import { KEY_FRAME_REQUEST_DELAY_MS } from './stableProducer.ts';

/** What a StableProgram is fed from, how it chooses, and what it reports (its public shapes). */

export type SourceRole = 'primary' | 'backup';

/** One live feed of the program: a WHIP session or a pipe from another node. */
export interface ProgramSource {
  id: string;
  role: SourceRole;
  producers: types.Producer[];
  /** What the source is (for ops): 'whip', 'pipe:<node>'... */
  label: string;
  /** Called when a newer source of the same role replaces this one. */
  close?(reason: string): void;
  /**
   * One path of a merged source (the dual path of a critical region): every
   * source attached under the same `id` with a `path` is merged packet by
   * packet (first copy of each packet wins) and is one source to the program.
   */
  path?: string;
}

export interface ProgramOptions {
  /** The active source delivered nothing for this long: switch to another live one. */
  silenceMs: number;
  /**
   * With two copies of one encoder (same timestamps): switch when the active
   * copy has fallen this far (ms of media) behind another one — a stalled
   * copy is evident well before `silenceMs` of silence.
   */
  lagMs: number;
  /** A primary must have delivered continuously this long before traffic returns to it. */
  returnAfterMs: number;
  /** Keep the stable producers (and viewers' consumers) this long after the last source left. */
  graceMs: number;
  /**
   * Video packets handed to the worker ahead of its fan-out (FeedPacer): a
   * key frame's burst no longer holds up everything behind it. 0 = unpaced.
   */
  feedWindow: number;
  /**
   * At most one key-frame request per layer goes to the live source per
   * interval (ms): the origin honours each one with a forced key frame, so
   * this bounds what a join storm costs in bitrate.
   */
  keyFrameIntervalMs: number;
}

export const DEFAULT_PROGRAM_OPTIONS: ProgramOptions = {
  silenceMs: 500,
  lagMs: 150,
  returnAfterMs: 5000,
  graceMs: 15_000,
  feedWindow: DEFAULT_FEED_WINDOW,
  keyFrameIntervalMs: KEY_FRAME_REQUEST_DELAY_MS,
};

export interface SwitchRecord {
  at: number;
  from: string | undefined;
  to: string;
  reason: string;
  /** Gap in video fed to viewers around the switch (ms); undefined until the video splice happened. */
  freezeMs: number | undefined;
}

export interface ProgramStatus {
  activeSource: string | undefined;
  activeRole: SourceRole | undefined;
  activeLabel: string | undefined;
  sources: { id: string; role: SourceRole; label: string; lastPacketMsAgo: number | null }[];
  switches: number;
  lastSwitch: SwitchRecord | undefined;
  /** Per media kind: which source feeds it (and which one it waits to splice in), packets forwarded and dropped. */
  tracks: {
    kind: string;
    active?: string;
    pending?: string;
    forwarded: number;
    dropped: number;
    paced: number;
    /** Key-frame requests sent to the sources (after coalescing). */
    keyFrameRequests: number;
  }[];
}
