import { TypedEmitter } from './emitter.ts';
import type { ReceivedScore, ScoreFeed } from './ScoreFeed.ts';

/**
 * Maps one presented video frame to the stream's mediaTime (ms since frame
 * 0), or undefined when this frame cannot be placed on the stream's timeline.
 */
export type FrameMediaTime = (meta: VideoFrameCallbackMetadata) => number | undefined;

export type ScreenScoreEvents = {
  /** The score on screen changed (null: no score belongs to the frame shown yet). */
  change: [ReceivedScore | null];
};

/** Slack (ms) when comparing a frame's mediaTime with an update's: far below one frame (33 ms). */
const SAME_INSTANT_MS = 1;
/** Frames older than this no longer decide what is on screen (the picture stopped). */
const FRAME_FRESH_MS = 1000;

/**
 * The score that belongs on screen: for each frame the video element
 * presents, the latest update whose mediaTime that frame has reached — so a
 * score never spoils a shot the viewer has not seen, and a viewer who
 * rewinds sees the score of the frame they watch. The same rule serves
 * both paths; only the frame → mediaTime mapping differs (RTP timestamp on
 * WebRTC, fMP4 decode time on HLS).
 *
 * Where no frame can be placed (no picture yet, a browser without
 * requestVideoFrameCallback), the latest update is shown: there is no
 * picture it could be ahead of.
 */
export class ScreenScore extends TypedEmitter<ScreenScoreEvents> {
  readonly #feed: ScoreFeed;
  readonly #now: () => number;
  #current: ReceivedScore | null = null;
  #frameMediaTime: number | undefined;
  #frameAt = Number.NEGATIVE_INFINITY;
  #stopFollowing: (() => void) | null = null;

  constructor(feed: ScoreFeed, now: () => number = () => performance.now()) {
    super();
    this.#feed = feed;
    this.#now = now;
  }

  get current(): ReceivedScore | null {
    return this.#current;
  }

  /** mediaTime of the last frame placed on the timeline (diagnostics and tests). */
  get frameMediaTime(): number | undefined {
    return this.#frameMediaTime;
  }

  /** Follows the frames `video` presents (replacing what was followed before). */
  follow(video: HTMLVideoElement, mediaTimeOf: FrameMediaTime): void {
    this.unfollow();
    this.#frameAt = Number.NEGATIVE_INFINITY;
    if (typeof video.requestVideoFrameCallback !== 'function') {
      this.updated();
      return;
    }
    let handle = 0;
    const onFrame = (_now: number, meta: VideoFrameCallbackMetadata) => {
      handle = video.requestVideoFrameCallback(onFrame);
      this.frame(mediaTimeOf(meta));
    };
    handle = video.requestVideoFrameCallback(onFrame);
    this.#stopFollowing = () => video.cancelVideoFrameCallback(handle);
  }

  unfollow(): void {
    this.#stopFollowing?.();
    this.#stopFollowing = null;
  }

  /** A frame with this mediaTime (undefined: unplaceable) is on screen. */
  frame(mediaTime: number | undefined): void {
    if (mediaTime === undefined) {
      this.#frameAt = Number.NEGATIVE_INFINITY;
      this.#show(this.#feed.latest);
      return;
    }
    this.#frameMediaTime = mediaTime;
    this.#frameAt = this.#now();
    this.#show(this.#feed.scoreForMediaTime(mediaTime + SAME_INSTANT_MS));
  }

  /** The feed accepted an update: the frame on screen decides, or show it now when there is no picture. */
  updated(): void {
    if (this.#frameMediaTime !== undefined && this.#now() - this.#frameAt < FRAME_FRESH_MS) {
      this.#show(this.#feed.scoreForMediaTime(this.#frameMediaTime + SAME_INSTANT_MS));
    } else {
      this.#show(this.#feed.latest);
    }
  }

  #show(score: ReceivedScore | null): void {
    if (score === this.#current) return;
    this.#current = score;
    this.emit('change', score);
  }
}

/** mediaTime of a WebRTC frame from its RTP timestamp: shared with the ingest, which stamps scores the same way. */
export { rtpMediaTime } from '@matchmesh/protocol';
