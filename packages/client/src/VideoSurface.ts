import type { FrameMediaTime, ScreenScore } from './ScreenScore.ts';

export type SurfacePath = 'webrtc' | 'hls';

/**
 * The page's video elements, as the Player uses them: the WebRTC stream in
 * one element, HLS in a second one stacked on top (or in the same element
 * when the page gives only one). A third, spare HLS element lets an HLS
 * move (a draining relay) play the new relay hidden and swap it in once it
 * presents frames: the two HLS elements trade places at each move. Which
 * one is visible, what stream the WebRTC one shows, and which one the score
 * overlay follows frame by frame are decided here; when to switch is the
 * Player's business.
 */
export class VideoSurface {
  readonly #screen: ScreenScore;
  readonly #frameTime: Record<SurfacePath, FrameMediaTime>;
  #video: HTMLVideoElement | null = null;
  #hlsVideo: HTMLVideoElement | null = null;
  /** The other HLS element: where a move's new session plays until swapped in (null: none given). */
  #hlsSpare: HTMLVideoElement | null = null;
  /** Ids of the video tracks the WebRTC element was last given. */
  #videoKey = '';

  /** `frameTime`: how each path places one of its frames on the stream's timeline. */
  constructor(screen: ScreenScore, frameTime: Record<SurfacePath, FrameMediaTime>) {
    this.#screen = screen;
    this.#frameTime = frameTime;
  }

  get attached(): boolean {
    return this.#video !== null;
  }

  /** The element HLS plays in: the dedicated one, else the shared one (null when detached). */
  get hlsElement(): HTMLVideoElement | null {
    return this.#hlsVideo ?? this.#video;
  }

  /** The hidden HLS element a move plays the new relay in (null without one: the move reuses hlsElement). */
  get hlsSpare(): HTMLVideoElement | null {
    return this.#hlsVideo && this.#video ? this.#hlsSpare : null;
  }

  /** How tall the WebRTC picture is shown, in device pixels (null when detached or not laid out). */
  get shownHeight(): number | null {
    const v = this.#video;
    if (!v || v.clientHeight === 0) return null;
    return Math.round(v.clientHeight * (globalThis.devicePixelRatio || 1));
  }

  /** True when HLS has an element of its own (switches need no black frame). */
  get twoElements(): boolean {
    return this.#hlsVideo !== null && this.#video !== null;
  }

  attach(video: HTMLVideoElement, hlsVideo?: HTMLVideoElement, hlsSpare?: HTMLVideoElement): void {
    this.#video = video;
    this.#hlsVideo = hlsVideo ?? null;
    this.#hlsSpare = hlsVideo ? (hlsSpare ?? null) : null;
    if (this.#hlsSpare) this.#hide(this.#hlsSpare);
  }

  /**
   * An HLS move is done: the spare (where the new session plays) becomes the
   * HLS element, and the old one the spare. The viewer's sound setting goes
   * with the picture; the old element is muted and hidden (show() follows).
   */
  swapHls(): void {
    const old = this.#hlsVideo;
    const next = this.#hlsSpare;
    if (!old || !next) return;
    next.muted = old.muted;
    next.volume = old.volume;
    old.muted = true;
    this.#hlsVideo = next;
    this.#hlsSpare = old;
  }

  /** Readies the spare for a move's session: muted (no second sound) and hidden until swapped in. */
  prepareSpare(): HTMLVideoElement | null {
    const spare = this.hlsSpare;
    if (!spare) return null;
    spare.muted = true;
    this.#hide(spare);
    return spare;
  }

  /**
   * Resolves true once `video` has presented a frame (requestVideoFrameCallback),
   * false after `timeoutMs` (true at once where the browser cannot tell).
   */
  presented(video: HTMLVideoElement, timeoutMs = 1000): Promise<boolean> {
    if (typeof video.requestVideoFrameCallback !== 'function') return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        video.cancelVideoFrameCallback(handle);
        resolve(false);
      }, timeoutMs);
      const handle = video.requestVideoFrameCallback(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  #hide(element: HTMLVideoElement): void {
    element.style.visibility = 'hidden';
    element.dataset.active = 'false';
  }

  /** Lets go of the elements (clearing `stream` from the WebRTC one if it still shows it). */
  detach(stream: MediaStream | null): void {
    this.#screen.unfollow();
    if (this.#video && this.#video.srcObject === stream) this.#video.srcObject = null;
    this.#video = null;
    this.#hlsVideo = null;
    this.#hlsSpare = null;
  }

  /**
   * Shows the element of `path` and hides the other; the overlay follows the
   * frames of the one on screen. With one element for both paths, `onHls`
   * tells which path is filling it right now.
   */
  show(path: SurfacePath, onHls: () => boolean): void {
    const video = this.#video;
    const hlsVideo = this.#hlsVideo;
    if (!video) return;
    if (!hlsVideo) {
      this.#screen.follow(video, (m) => (onHls() ? this.#frameTime.hls(m) : this.#frameTime.webrtc(m)));
      return;
    }
    const hls = path === 'hls';
    this.#screen.follow(hls ? hlsVideo : video, this.#frameTime[path]);
    hlsVideo.style.visibility = hls ? 'visible' : 'hidden';
    video.style.visibility = hls ? 'hidden' : 'visible';
    hlsVideo.dataset.active = String(hls);
    video.dataset.active = String(!hls);
    if (this.#hlsSpare) this.#hide(this.#hlsSpare);
  }

  /** Gives the WebRTC element `stream` (reloading it when its video track was replaced). */
  showStream(stream: MediaStream | null): void {
    const video = this.#video;
    const videoKey = stream
      ? stream
          .getVideoTracks()
          .map((t) => t.id)
          .join()
      : '';
    if (video) {
      if (video.srcObject !== stream) {
        video.srcObject = stream;
      } else if (stream && videoKey !== this.#videoKey) {
        // The program video track was replaced (origin republished): browsers do not
        // reliably switch to a new video track of the same srcObject, so reload it.
        video.srcObject = null;
        video.srcObject = stream;
      }
    }
    this.#videoKey = videoKey;
  }

  /**
   * With two elements: puts `stream` in the (hidden) WebRTC element and
   * resolves true once it has painted a frame, false when none came within
   * 1.5 s — then a switch from HLS would show a stale or black picture, and
   * the caller keeps HLS. (True at once where the browser cannot tell.)
   */
  async rendered(stream: MediaStream | null): Promise<boolean> {
    const video = this.#video;
    if (!this.#hlsVideo || !video || !stream) return true;
    video.srcObject = stream;
    this.#videoKey = '';
    void video.play().catch(() => {});
    return this.presented(video, 1500);
  }
}
