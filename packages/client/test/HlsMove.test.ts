import { HLS_DRAINING_HEADER } from '@matchmesh/protocol';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DRAIN_NOTICE_MS, type HlsLike, HlsSession, type HlsSessionConfig } from '../src/HlsSession.ts';
import { Player } from '../src/Player.ts';
import { ScoreFeed } from '../src/ScoreFeed.ts';
import { FakeNode, fakeDevice, installMediaStream, WebSocket } from './fakeNode.ts';

beforeAll(installMediaStream);

/** Just enough of an HTMLVideoElement: events, currentTime (seeks recorded), muted, style and dataset. */
class FakeVideo extends EventTarget {
  #time = 0;
  /** Every seek the player made: from where, to where. */
  readonly seeks: { from: number; to: number }[] = [];
  srcObject: unknown = null;
  src = '';
  muted = false;
  volume = 1;
  style: Record<string, string> = {};
  dataset: Record<string, string> = {};

  get currentTime(): number {
    return this.#time;
  }
  set currentTime(t: number) {
    this.seeks.push({ from: this.#time, to: t });
    this.#time = t;
    queueMicrotask(() => this.dispatchEvent(new Event('seeked')));
  }
  play() {
    return Promise.resolve();
  }
  /** The picture advances. */
  tick(seconds: number) {
    this.#time += seconds;
    this.dispatchEvent(new Event('timeupdate'));
  }
}

/** The player plays HLS in `video` now. */
const shows = (player: Player, video: FakeVideo) => (player.hlsElement as unknown) === video;

/** Ticks `video` until `done()` holds: the move's steady-play wait listens only from when it starts. */
async function playUntil(video: FakeVideo, done: () => boolean): Promise<void> {
  await expect
    .poll(() => {
      video.tick(0.2);
      return done();
    })
    .toBe(true);
}

/** A request as hls.js makes one: opened by the session's xhrSetup, then answered with headers. */
class FakeXhr extends EventTarget {
  readyState = 0;
  url = '';
  headers: Record<string, string> = {};
  open(_method: string, url: string) {
    this.url = url;
    this.readyState = 1;
  }
  getResponseHeader(name: string): string | null {
    return this.headers[name.toLowerCase()] ?? null;
  }
  /** The answer's headers arrive. */
  respond(headers: Record<string, string>) {
    this.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    this.readyState = 2;
    this.dispatchEvent(new Event('readystatechange'));
  }
}

/** hls.js as the session drives it: the test fires its events and makes its requests. */
class FakeHls implements HlsLike {
  /** Program date time at the playhead: with a timeline, where the picture is on the stream's. */
  playingDate: Date | null = null;
  source = '';
  media: FakeVideo | null = null;
  destroyed = false;
  readonly listeners = new Map<string, ((event: string, data: unknown) => void)[]>();
  constructor(readonly config: HlsSessionConfig | undefined) {}
  loadSource(url: string) {
    this.source = url;
  }
  attachMedia(media: HTMLMediaElement) {
    this.media = media as unknown as FakeVideo;
  }
  on(event: string, listener: (event: string, data: unknown) => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }
  fire(event: string, data: unknown) {
    for (const listener of this.listeners.get(event) ?? []) listener(event, data);
  }
  destroy() {
    this.destroyed = true;
  }
  /** A playlist reload through the session's xhrSetup; the relay answers with `headers`. */
  request(url: string, headers: Record<string, string>): FakeXhr {
    const xhr = new FakeXhr();
    this.config?.xhrSetup(xhr as unknown as XMLHttpRequest, url);
    xhr.respond(headers);
    return xhr;
  }
}

const draining = (to: string) => ({ [HLS_DRAINING_HEADER]: to });
/** A fetch whose every answer is an empty score log, with `headers`. */
const scoresFetch = (headers: () => Record<string, string>, calls: string[] = [], timeline: unknown[] = []) =>
  (async (url: string | URL | Request) => {
    calls.push(String(url));
    const body = { stream: 'match', updates: [], timeline, latestSeq: 0 };
    return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json', ...headers() } });
  }) as typeof fetch;

describe('HlsSession hears that its relay drains', () => {
  let session: HlsSession | null = null;
  afterEach(() => session?.close());

  it('from the header of a score-log answer or of an hls.js request; said again only every DRAIN_NOTICE_MS', async () => {
    let headers: Record<string, string> = {};
    const instances: FakeHls[] = [];
    session = new HlsSession({
      nodeUrl: 'http://relay-a',
      stream: 'match',
      token: 'cred-1',
      scoreFeed: new ScoreFeed({ stream: 'match' }),
      scoresPollMs: 20,
      fetch: scoresFetch(() => headers),
      hlsFactory: async (config) => {
        const hls = new FakeHls(config);
        instances.push(hls);
        return hls;
      },
    });
    const heard: string[] = [];
    session.on('draining', (to) => heard.push(to));
    await session.start(new FakeVideo() as unknown as HTMLVideoElement);
    const hls = instances[0]!;
    // Not draining: requests go on, nothing is said.
    const plain = hls.request('http://relay-a/hls/match/t/old/media.m3u8', {});
    expect(plain.url).toBe('http://relay-a/hls/match/t/cred-1/media.m3u8');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(heard).toEqual([]);

    // A playlist reload is the first to carry the header.
    hls.request('http://relay-a/hls/match/t/cred-1/media.m3u8', draining('http://relay-b'));
    expect(heard).toEqual(['http://relay-b']);
    // The score log carries it too, and the requests keep coming: throttled.
    headers = draining('http://relay-b');
    hls.request('http://relay-a/hls/match/t/cred-1/media.m3u8', draining('http://relay-b'));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(heard).toEqual(['http://relay-b']);
    // Still draining DRAIN_NOTICE_MS later (a move that failed): said again.
    await expect.poll(() => heard.length, { timeout: DRAIN_NOTICE_MS + 1000, interval: 50 }).toBe(2);
    session.close();
    const count = heard.length;
    hls.request('http://relay-a/hls/match/t/cred-1/media.m3u8', draining('http://relay-b'));
    expect(heard.length).toBe(count);
  });
});

let node: FakeNode | null = null;
let player: Player | null = null;

afterEach(async () => {
  vi.unstubAllGlobals();
  player?.close();
  player = null;
  await node?.stop();
  node = null;
});

/** A Player on HLS from the fake node (its WebRTC failed), with three video elements and scripted hls.js. */
async function playerOnHls(elements: 2 | 3 = 3, hlsLanguagesPollMs?: number) {
  node = await new FakeNode().start();
  const device = fakeDevice();
  const instances: FakeHls[] = [];
  player = new Player({
    nodeUrl: node.url,
    stream: 'match',
    token: 'cred-1',
    WebSocket,
    device: device.options,
    placement: false,
    // WebRTC is not retried in the background during these tests.
    upgradeRetry: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    ...(hlsLanguagesPollMs ? { hlsLanguagesPollMs } : {}),
    hlsFactory: async (config) => {
      const hls = new FakeHls(config);
      instances.push(hls);
      return hls;
    },
  });
  const video = new FakeVideo();
  const hlsVideo = new FakeVideo();
  const spare = new FakeVideo();
  const asElement = (v: FakeVideo) => v as unknown as HTMLVideoElement;
  if (elements === 3) player.attach(asElement(video), asElement(hlsVideo), asElement(spare));
  else player.attach(asElement(video), asElement(hlsVideo));
  player.start();
  await expect.poll(() => device.handlers.length).toBe(1);
  device.setConnectionState('failed');
  await expect.poll(() => instances.length).toBe(1);
  hlsVideo.tick(0.5);
  expect(player.state).toBe('connected');
  expect(player.path).toBe('hls');
  return { node, player, instances, video, hlsVideo, spare };
}

describe('Player: a drain moves a playing HLS viewer (make before break)', () => {
  it('plays the other relay hidden in the spare element, swaps it in once it plays, then destroys the old hls.js', async () => {
    const { player, instances, hlsVideo, spare } = await playerOnHls();
    const old = instances[0]!;
    const moves: string[] = [];
    player.on('state', (change) => moves.push(change.reason));

    // The fake node has no edges list: placement falls back to the relay the draining one named.
    old.request(`${node!.url}/hls/match/t/cred-1/media.m3u8`, draining('http://relay-b:8081'));
    await expect.poll(() => instances.length).toBe(2);
    const next = instances[1]!;
    // Same credential, the other relay, in the spare element: hidden and muted while the old one plays on.
    expect(next.source).toBe('http://relay-b:8081/hls/match/index.m3u8?token=cred-1');
    expect(next.media).toBe(spare);
    expect(spare.muted).toBe(true);
    expect(spare.style.visibility).toBe('hidden');
    expect(hlsVideo.style.visibility).toBe('visible');
    expect(old.destroyed).toBe(false);
    expect(player.hls?.options.nodeUrl).toBe(node!.url);
    expect(player.reason).toBe('fallback: ice-failed; moving: relay draining');

    // The new relay plays steadily: the spare is swapped in, with the viewer's sound setting.
    spare.tick(0.04);
    expect(player.hls?.options.nodeUrl).toBe(node!.url);
    await playUntil(spare, () => player.hls?.options.nodeUrl === 'http://relay-b:8081');
    expect(spare.style.visibility).toBe('visible');
    expect(spare.dataset.active).toBe('true');
    expect(spare.muted).toBe(false);
    expect(hlsVideo.style.visibility).toBe('hidden');
    expect(hlsVideo.dataset.active).toBe('false');
    expect(hlsVideo.muted).toBe(true);
    expect(player.hlsElement).toBe(spare);
    expect(old.destroyed).toBe(true);
    expect(next.destroyed).toBe(false);
    expect(player.moves.moves).toBe(1);
    expect(player.state).toBe('connected');
    expect(player.reason).toBe('fallback: ice-failed (moved)');
    expect(moves).toEqual(['fallback: ice-failed; moving: relay draining', 'fallback: ice-failed (moved)']);

    // A renewed credential reaches the new session's requests.
    player.setToken('cred-2');
    expect(next.request('http://relay-b:8081/hls/match/t/cred-1/media.m3u8', {}).url).toBe(
      'http://relay-b:8081/hls/match/t/cred-2/media.m3u8',
    );
    // The next relay drains too: the two elements trade places again.
    next.request('http://relay-b:8081/hls/match/t/cred-2/media.m3u8', draining('http://relay-c:8082'));
    await expect.poll(() => instances.length).toBe(3);
    expect(instances[2]!.media).toBe(hlsVideo);
    expect(instances[2]!.source).toBe('http://relay-c:8082/hls/match/index.m3u8?token=cred-2');
    await playUntil(hlsVideo, () => shows(player, hlsVideo));
    expect(next.destroyed).toBe(true);
    expect(player.moves.moves).toBe(2);
  });

  it('a move whose relay fails leaves the old picture up, warns, and the next drain notice tries again', async () => {
    const { player, instances, hlsVideo, spare } = await playerOnHls();
    const warnings: string[] = [];
    player.on('warning', (error) => warnings.push(error.message));
    const old = instances[0]!;
    old.request(`${node!.url}/hls/match/t/cred-1/media.m3u8`, draining('http://relay-b:8081'));
    await expect.poll(() => instances.length).toBe(2);
    instances[1]!.fire('hlsError', { fatal: true, details: 'manifestLoadError' });
    await expect
      .poll(() => warnings.some((w) => w.includes('HLS drain move to http://relay-b:8081 failed')))
      .toBe(true);
    expect(instances[1]!.destroyed).toBe(true);
    expect(old.destroyed).toBe(false);
    expect(player.hlsElement).toBe(hlsVideo);
    expect(hlsVideo.style.visibility).toBe('visible');
    expect(player.state).toBe('connected');

    // The relay still says it drains (after the notice interval): a second try, which plays.
    await new Promise((resolve) => setTimeout(resolve, DRAIN_NOTICE_MS));
    old.request(`${node!.url}/hls/match/t/cred-1/media.m3u8`, draining('http://relay-b:8081'));
    await expect.poll(() => instances.length).toBe(3);
    await playUntil(spare, () => shows(player, spare));
    expect(old.destroyed).toBe(true);
  });

  it('seeks the new relay onto the old picture (the stream timeline of each relay’s score log) before the swap', async () => {
    // Each relay's score log: one anchor tying program date time to the stream's mediaTime.
    vi.stubGlobal(
      'fetch',
      scoresFetch(() => ({}), [], [{ pdt: 0, decodeTime: 0, mediaTime: 0, msn: 0 }]),
    );
    const { player, instances, spare } = await playerOnHls();
    const old = instances[0]!;
    old.playingDate = new Date(60_000);
    old.request(`${node!.url}/hls/match/t/cred-1/media.m3u8`, draining('http://relay-b:8081'));
    await expect.poll(() => instances.length).toBe(2);
    const next = instances[1]!;
    // The new relay's hls.js starts nearer its live edge: 700 ms ahead of the picture on screen.
    next.playingDate = new Date(60_700);
    spare.tick(10);
    await playUntil(spare, () => spare.seeks.length > 0);
    expect(shows(player, spare)).toBe(false);
    // Seeked back by the difference; once in step (the old plays on meanwhile), swapped in.
    expect(spare.seeks[0]!.to - spare.seeks[0]!.from).toBeCloseTo(-0.7, 5);
    next.playingDate = new Date(61_000);
    old.playingDate = new Date(61_020);
    await playUntil(spare, () => shows(player, spare));
    expect(spare.seeks).toHaveLength(1);
  });

  it('the old relay dies before the new one plays: the move takes over at once', async () => {
    const { player, instances, spare } = await playerOnHls();
    const old = instances[0]!;
    old.request(`${node!.url}/hls/match/t/cred-1/media.m3u8`, draining('http://relay-b:8081'));
    await expect.poll(() => instances.length).toBe(2);
    old.fire('hlsError', { fatal: true, details: 'levelLoadError' });
    expect(player.hls?.options.nodeUrl).toBe('http://relay-b:8081');
    expect(player.hlsElement).toBe(spare);
    expect(player.state).toBe('connecting');
    expect(player.reason).toBe('fallback: ice-failed (moved early)');
    spare.tick(0.04);
    expect(player.state).toBe('connected');
    expect(player.path).toBe('hls');
    expect(player.moves.moves).toBe(1);
  });

  it('without a spare element: the new relay replaces the old one in the same element', async () => {
    const { player, instances, hlsVideo } = await playerOnHls(2);
    const old = instances[0]!;
    old.request(`${node!.url}/hls/match/t/cred-1/media.m3u8`, draining('http://relay-b:8081'));
    await expect.poll(() => instances.length).toBe(2);
    expect(old.destroyed).toBe(true);
    expect(instances[1]!.media).toBe(hlsVideo);
    expect(player.state).toBe('connecting');
    hlsVideo.tick(0.5);
    expect(player.state).toBe('connected');
    expect(player.hls?.options.nodeUrl).toBe('http://relay-b:8081');
  });
});

describe('Player: commentary languages that change during an HLS session', () => {
  const group = (langs: string[]) =>
    [
      '#EXTM3U',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Venue sound only",DEFAULT=YES,URI="t/x/audio/media.m3u8"',
      ...langs.map((l) => `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="${l}",NAME="${l}",URI="a-${l}.m3u8"`),
      '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="audio"',
      't/x/v0/media.m3u8',
    ].join('\n');

  it('reloads HLS on the same relay (make before break, not a move) when the playlist lists a new language', async () => {
    let listed = ['en'];
    const scores = scoresFetch(() => ({}));
    vi.stubGlobal('fetch', (async (url: string | URL | Request, init?: RequestInit) =>
      String(url).includes('index.m3u8') ? new Response(group(listed)) : scores(url, init)) as typeof fetch);
    const { player, instances, spare } = await playerOnHls(3, 30);
    const old = instances[0]!;
    // hls.js read the playlist once: venue + en.
    Object.assign(old, { audioTracks: [{ name: 'Venue sound only' }, { name: 'en', lang: 'en' }], audioTrack: 0 });
    expect(player.languages).toEqual(['en']);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(instances).toHaveLength(1);

    listed = ['en', 'fr'];
    await expect.poll(() => instances.length).toBe(2);
    const next = instances[1]!;
    expect(next.source).toBe(old.source);
    expect(next.media).toBe(spare);
    expect(player.reason).toBe('fallback: ice-failed; reloading: commentary languages changed');
    Object.assign(next, {
      audioTracks: [{ name: 'Venue sound only' }, { name: 'en', lang: 'en' }, { name: 'fr', lang: 'fr' }],
      audioTrack: 0,
    });
    await playUntil(spare, () => shows(player, spare));
    expect(old.destroyed).toBe(true);
    expect(player.languages).toEqual(['en', 'fr']);
    expect(player.moves.moves).toBe(0);
    expect(player.reason).toBe('fallback: ice-failed (reloaded: languages changed)');
    // The viewer picks the new language: hls.js plays its rendition.
    await player.setLanguage('fr');
    expect((next as HlsLike).audioTrack).toBe(2);
    expect(player.language).toBe('fr');
  });

  it('a reload that fails is tried again at the next poll; a reloaded hls.js that still differs does not loop', async () => {
    const listed = ['en', 'fr'];
    const scores = scoresFetch(() => ({}));
    vi.stubGlobal('fetch', (async (url: string | URL | Request, init?: RequestInit) =>
      String(url).includes('index.m3u8') ? new Response(group(listed)) : scores(url, init)) as typeof fetch);
    const warnings: string[] = [];
    const { player, instances, spare } = await playerOnHls(3, 30);
    player.on('warning', (error) => warnings.push(error.message));
    Object.assign(instances[0]!, { audioTracks: [{ name: 'Venue sound only' }, { name: 'en', lang: 'en' }] });
    await expect.poll(() => instances.length).toBe(2);
    instances[1]!.fire('hlsError', { fatal: true, details: 'manifestLoadError' });
    await expect.poll(() => warnings.some((w) => w.startsWith('HLS reload to '))).toBe(true);
    // The old session is still the player's: its next poll asks again.
    await expect.poll(() => instances.length).toBe(3);
    // This one plays but hls.js leaves fr out: swapped in, and no further reload for the same languages.
    Object.assign(instances[2]!, { audioTracks: [{ name: 'Venue sound only' }, { name: 'en', lang: 'en' }] });
    await playUntil(spare, () => shows(player, spare));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(instances).toHaveLength(3);
    expect(player.moves.moves).toBe(0);
  });
});
