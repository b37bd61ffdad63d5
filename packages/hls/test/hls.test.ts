import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hlsMediaTimeForPdt } from '@matchmesh/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { languageName, VENUE_ONLY_NAME } from '../src/AudioRenditions.ts';
import { packagerArgs } from '../src/FfmpegPackager.ts';
import { parseMoof, shiftFragment } from '../src/fmp4.ts';
import { renderMediaPlaylist, renderMultivariant } from '../src/playlist.ts';
import { isH264KeyFrameStart, RtpRelay, rtpPayloadOffset } from '../src/RtpRelay.ts';
import { ScoreLog } from '../src/ScoreLog.ts';
import { FIRST_MSN, type FragmentIn, SegmentStore } from '../src/SegmentStore.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function store(o: Partial<ConstructorParameters<typeof SegmentStore>[0]> = {}): Promise<SegmentStore> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-hls-unit-'));
  dirs.push(dir);
  const s = new SegmentStore({
    dir: path.join(dir, 'stream'),
    segmentSeconds: 1,
    targetDuration: 2,
    windowSeconds: 3600,
    maxBytes: 10 * 1024 * 1024,
    partSegments: 2,
    ...o,
  });
  await s.open();
  s.setInit(Buffer.alloc(100));
  return s;
}

let clock = 0;
function frag(independent: boolean, bytes = 1000, duration = 0.2): FragmentIn {
  const f = {
    data: Buffer.alloc(bytes, 1),
    duration,
    independent,
    mediaTimeMs: clock,
    pdtMs: 1_000_000 + clock,
  };
  clock += duration * 1000;
  return f;
}

/** Feed `seconds` of 200 ms parts with a key frame every second. */
function feed(s: SegmentStore, seconds: number, bytes = 1000): void {
  for (let i = 0; i < seconds * 5; i++) s.addFragment(frag(i % 5 === 0, bytes));
}

describe('SegmentStore', () => {
  it('cuts segments at key frames once long enough, numbers them, and keeps parts only for recent ones', async () => {
    const s = await store();
    feed(s, 4.2);
    expect(s.segments.map((x) => x.msn)).toEqual([1, 2, 3, 4, 5]);
    expect(s.segments.slice(0, 4).every((x) => x.complete && Math.abs(x.duration - 1) < 1e-9)).toBe(true);
    expect(s.openSegment?.parts.length).toBe(1);
    expect(s.segments[0]!.parts).toEqual([]);
    expect(s.segments[3]!.parts.length).toBe(5);
    await s.flushed();
    expect(existsSync(s.filePath('seg-2.m4s'))).toBe(true);
  });

  it('cuts at the target duration when no key frame comes', async () => {
    const s = await store();
    s.addFragment(frag(true));
    for (let i = 0; i < 14; i++) s.addFragment(frag(false));
    expect(s.segments[0]!.complete).toBe(true);
    expect(s.segments[0]!.duration).toBeLessThanOrEqual(2);
    expect(s.segments[1]!.independent).toBe(false);
  });

  it('evicts by age and keeps the folder under the byte cap', async () => {
    const s = await store({ maxBytes: 64 * 1024 });
    feed(s, 30, 2000);
    await s.flushed();
    const dir = path.dirname(s.filePath('seg-0.m4s'));
    const bytes = readdirSync(dir).reduce((sum, f) => sum + statSync(path.join(dir, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(64 * 1024);
    expect(s.segments[0]!.msn).toBeGreaterThan(FIRST_MSN);
    expect(s.find(FIRST_MSN)).toBeUndefined();

    const aged = await store({ windowSeconds: 5 });
    feed(aged, 12);
    const first = aged.segments[0]!;
    const last = aged.segments.filter((x) => x.complete).at(-1)!;
    expect(last.pdtMs + last.duration * 1000 - (first.pdtMs + first.duration * 1000)).toBeLessThanOrEqual(5000);
  });

  it('starts a new period after EXT-X-DISCONTINUITY on a new init segment', async () => {
    const s = await store();
    feed(s, 2.2);
    s.setInit(Buffer.alloc(50));
    feed(s, 1.2);
    const text = renderMediaPlaylist({
      segments: s.segments,
      discontinuitySequence: s.discontinuitySequence,
      targetDuration: 2,
      partTarget: 0.2,
      skip: false,
    });
    expect(text).toContain('#EXT-X-MAP:URI="init-0.mp4"');
    expect(text).toMatch(/#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init-1.mp4"/);
  });
});

describe('LL-HLS playlists', () => {
  it('never numbers a segment or part 0: a stream starts at FIRST_MSN (hls.js loops on segment 0’s parts)', async () => {
    expect(FIRST_MSN).toBeGreaterThan(0);
    const s = await store();
    const before = renderMediaPlaylist({
      segments: s.segments,
      discontinuitySequence: 0,
      targetDuration: 2,
      partTarget: 0.2,
      hint: { msn: s.lastMsn + 1, part: 0 },
      skip: false,
    });
    // Before the first part: the hint names the first segment's first part.
    expect(before).toContain(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-${FIRST_MSN}.0.m4s"`);
    // The stream's start, as a player joining then sees it: the first segment still open, then complete.
    for (const seconds of [0.6, 1.2]) {
      feed(s, seconds);
      const text = renderMediaPlaylist({
        segments: s.segments,
        discontinuitySequence: 0,
        targetDuration: 2,
        partTarget: 0.2,
        skip: false,
      });
      expect(text).toContain(`#EXT-X-MEDIA-SEQUENCE:${FIRST_MSN}\n`);
      expect(text).toContain(`URI="part-${FIRST_MSN}.0.m4s",INDEPENDENT=YES`);
      expect(text).not.toMatch(/(part|seg)-0[.]/);
    }
    expect(s.segments[0]!.msn).toBe(FIRST_MSN);
    expect(s.find(0)).toBeUndefined();
  });

  it('renders parts, hint, server control, PDT, and skips old segments on a delta update', async () => {
    const s = await store();
    feed(s, 20.4);
    const input = {
      segments: s.segments,
      discontinuitySequence: 0,
      targetDuration: 2,
      partTarget: 0.2,
      hint: { msn: 20, part: 2 },
    };
    const full = renderMediaPlaylist({ ...input, skip: false });
    expect(full).toContain('#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000,CAN-SKIP-UNTIL=12.00000');
    expect(full).toContain('#EXT-X-PART-INF:PART-TARGET=0.20000');
    expect(full).toContain('#EXT-X-PART:DURATION=0.20000,URI="part-20.0.m4s",INDEPENDENT=YES');
    expect(full).toContain('#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-20.2.m4s"');
    expect(full).toContain(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.segments[0]!.pdtMs).toISOString()}`);
    expect(full).toContain('#EXT-X-INDEPENDENT-SEGMENTS');
    expect((full.match(/^seg-\d+\.m4s$/gm) ?? []).length).toBe(20);

    const delta = renderMediaPlaylist({ ...input, skip: true });
    const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/.exec(delta)![1]);
    // 20.4 s listed: segments starting more than 12 s before the end (0..8) are skipped.
    expect(skipped).toBe(9);
    expect(delta).not.toContain(`seg-${FIRST_MSN}.m4s`);
    expect(delta).not.toContain(`seg-${FIRST_MSN + skipped - 1}.m4s`);
    expect(delta).toContain(`seg-${FIRST_MSN + skipped}.m4s`);
  });

  it('renders the multivariant playlist', () => {
    const text = renderMultivariant({
      bandwidth: 1_800_000,
      codecs: ['avc1.42c01f', 'mp4a.40.2'],
      width: 1280,
      height: 720,
      uri: 't/x/media.m3u8',
    });
    expect(text).toContain('#EXT-X-STREAM-INF:BANDWIDTH=1800000,CODECS="avc1.42c01f,mp4a.40.2",RESOLUTION=1280x720');
    expect(text.trim().split('\n').at(-1)).toBe('t/x/media.m3u8');
  });

  it('renders one EXT-X-STREAM-INF per rendition, in order, with AVERAGE-BANDWIDTH and FRAME-RATE', () => {
    const text = renderMultivariant([
      {
        bandwidth: 2_000_000,
        averageBandwidth: 1_600_000,
        codecs: ['avc1.640028', 'mp4a.40.2'],
        width: 1920,
        height: 1080,
        frameRate: 50,
        uri: 'r2/media.m3u8',
      },
      {
        bandwidth: 300_000,
        averageBandwidth: 250_000,
        codecs: ['avc1.42c01e', 'mp4a.40.2'],
        width: 640,
        height: 360,
        frameRate: 30000 / 1001,
        uri: 'r0/media.m3u8',
      },
    ]);
    expect(text.split('\n')).toEqual([
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1600000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=50.000',
      'r2/media.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=300000,AVERAGE-BANDWIDTH=250000,CODECS="avc1.42c01e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=29.970',
      'r0/media.m3u8',
      '',
    ]);
  });
});

describe('HLS audio renditions (commentary languages)', () => {
  const video = [
    { bandwidth: 2_000_000, codecs: ['avc1.640028', 'mp4a.40.2'], width: 1920, height: 1080, uri: 'r1/media.m3u8' },
    { bandwidth: 300_000, codecs: ['avc1.42c01e', 'mp4a.40.2'], width: 640, height: 360, uri: 'r0/media.m3u8' },
  ];

  it('lists the audio group (venue only DEFAULT, each language) and names it on every variant', () => {
    const text = renderMultivariant(video, [
      { name: VENUE_ONLY_NAME, default: true, uri: 't/x/audio/media.m3u8' },
      { name: languageName('en'), language: 'en', default: false, uri: 't/x/audio-en/media.m3u8' },
      { name: languageName('pt-BR'), language: 'pt-BR', default: false, uri: 't/x/audio-pt-BR/media.m3u8' },
    ]);
    expect(text.split('\n')).toEqual([
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Venue sound only",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="t/x/audio/media.m3u8"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="en",NAME="English",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2",URI="t/x/audio-en/media.m3u8"',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",LANGUAGE="pt-BR",NAME="Português (Brasil)",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2",URI="t/x/audio-pt-BR/media.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,AUDIO="audio"',
      'r1/media.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=300000,CODECS="avc1.42c01e,mp4a.40.2",RESOLUTION=640x360,AUDIO="audio"',
      'r0/media.m3u8',
      '',
    ]);
  });

  it('has no audio group and no AUDIO= without commentary (the muxed audio plays)', () => {
    const text = renderMultivariant(video, []);
    expect(text).not.toContain('EXT-X-MEDIA');
    expect(text).not.toContain('AUDIO=');
  });

  it('keeps quoted attribute values legal (no quote or line break from a name)', () => {
    const text = renderMultivariant(video, [{ name: 'a"b\nc', default: true, uri: 'audio/media.m3u8' }]);
    expect(text).toContain('NAME="abc"');
  });

  it('names a language in itself, and an unknown or malformed tag by the tag', () => {
    expect(languageName('es')).toBe('Español');
    expect(languageName('de')).toBe('Deutsch');
    expect(languageName('zz')).toBe('zz');
    expect(languageName('en_GB!')).toBe('en_GB!');
  });

  it('packages an audio-only rendition: the venue alone, or venue + commentary summed by amix, no video', () => {
    const venue = packagerArgs('in.sdp', { partMs: 200, audioBitrateKbps: 96, hasAudio: true, audioOnly: 1 });
    expect(venue.join(' ')).toContain('-map 0:a:0 -c:a aac -b:a 96k');
    expect(venue).not.toContain('0:v:0');
    const mixed = packagerArgs('in.sdp', { partMs: 200, audioBitrateKbps: 96, hasAudio: true, audioOnly: 2 });
    expect(mixed.join(' ')).toContain(
      '-filter_complex [0:a:0][0:a:1]amix=inputs=2:duration=first:dropout_transition=0:normalize=0[mix] -map [mix]',
    );
    expect(mixed).not.toContain('-c:v');
    const av = packagerArgs('in.sdp', { partMs: 200, audioBitrateKbps: 96, hasAudio: true });
    expect(av.join(' ')).toContain('-map 0:v:0 -map 0:a:0');
    expect(av.join(' ')).toContain('-c:v copy');
  });
});

describe('renditions on one timeline', () => {
  /** A moof (mfhd + one traf per track: tfhd, tfdt v1 or v0, an empty trun) + an empty mdat. */
  function fragment(tracks: { id: number; tfdt: number; v0?: boolean }[]): Buffer {
    const box = (type: string, body: Buffer): Buffer => {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(8 + body.length, 0);
      h.write(type, 4, 'latin1');
      return Buffer.concat([h, body]);
    };
    const full = (version: number, flags: number, body: Buffer): Buffer => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE((version << 24) | flags, 0);
      return Buffer.concat([h, body]);
    };
    const trafs = tracks.map((t) => {
      const tfhd = Buffer.alloc(4);
      tfhd.writeUInt32BE(t.id, 0);
      const tfdtBody = Buffer.alloc(t.v0 ? 4 : 8);
      if (t.v0) tfdtBody.writeUInt32BE(t.tfdt, 0);
      else tfdtBody.writeBigUInt64BE(BigInt(t.tfdt), 0);
      return box(
        'traf',
        Buffer.concat([
          box('tfhd', full(0, 0x20000, tfhd)),
          box('tfdt', full(t.v0 ? 0 : 1, 0, tfdtBody)),
          box('trun', full(0, 0, Buffer.alloc(4))),
        ]),
      );
    });
    return Buffer.concat([
      box('moof', Buffer.concat([box('mfhd', full(0, 0, Buffer.alloc(4))), ...trafs])),
      box('mdat', Buffer.alloc(0)),
    ]);
  }

  it("shifts each track's decode time in place (tfdt v1 and v0), leaving unlisted tracks alone", () => {
    const data = fragment([
      { id: 1, tfdt: 900_000 },
      { id: 2, tfdt: 480_000, v0: true },
      { id: 3, tfdt: 7 },
    ]);
    const tracks = new Map(
      [1, 2, 3].map((id) => [
        id,
        { id, kind: 'video' as const, timescale: 90000, defaultSampleDuration: 0, defaultSampleFlags: 0 },
      ]),
    );
    const runs = parseMoof(data.subarray(8), tracks);
    const f = { data, runs };
    shiftFragment(
      f,
      new Map([
        [1, 4500],
        [2, -960],
      ]),
    );
    expect(f.runs.map((r) => r.baseMediaDecodeTime)).toEqual([904_500, 479_040, 7]);
    // The bytes changed too: parsing again gives the same.
    expect(parseMoof(data.subarray(8), tracks).map((r) => r.baseMediaDecodeTime)).toEqual([904_500, 479_040, 7]);
    expect(() => shiftFragment(f, new Map([[1, -1_000_000]]))).toThrow(RangeError);
  });

  it('a clocked store takes segment numbers from the caller and never cuts on its own', async () => {
    const s = await store();
    s.addFragment({ ...frag(false), clocked: true }); // no open segment, no msn: dropped
    expect(s.segments).toHaveLength(0);
    s.addFragment({ ...frag(true), msn: 7, clocked: true });
    for (let i = 0; i < 14; i++) s.addFragment({ ...frag(i % 5 === 4), clocked: true }); // 3 s, key frames ignored
    expect(s.segments.map((x) => x.msn)).toEqual([7]);
    s.addFragment({ ...frag(true), msn: 8, clocked: true });
    expect(s.segments.map((x) => [x.msn, x.complete])).toEqual([
      [7, true],
      [8, false],
    ]);
    expect(s.lastMsn).toBe(8);
    expect(s.find(8)?.msn).toBe(8);
    // A new init within the timeline (a restarted packager): a new period, no discontinuity.
    s.setInit(Buffer.alloc(10), false);
    s.addFragment({ ...frag(true), msn: 9, clocked: true });
    expect(s.segments.at(-1)).toMatchObject({ msn: 9, period: 1, discontinuity: false });
  });
});

describe('RTP relay helpers', () => {
  const rtp = (payload: number[], opts: { csrc?: number; ext?: number } = {}): Buffer => {
    const csrc = opts.csrc ?? 0;
    const head = Buffer.alloc(12 + 4 * csrc);
    head[0] = 0x80 | csrc | (opts.ext !== undefined ? 0x10 : 0);
    const ext =
      opts.ext !== undefined
        ? Buffer.from([0xbe, 0xde, 0, opts.ext, ...new Array(4 * opts.ext).fill(0)])
        : Buffer.alloc(0);
    return Buffer.concat([head, ext, Buffer.from(payload)]);
  };

  it('finds the payload after CSRCs and header extensions', () => {
    expect(rtpPayloadOffset(rtp([0x67, 1]))).toBe(12);
    expect(rtpPayloadOffset(rtp([0x67, 1], { csrc: 2, ext: 1 }))).toBe(12 + 8 + 8);
    expect(rtpPayloadOffset(Buffer.alloc(5))).toBe(-1);
  });

  it('starts only at an SPS (alone or first in a STAP-A), never at a bare IDR', () => {
    expect(isH264KeyFrameStart(Buffer.from([0x67, 0x42]))).toBe(true);
    expect(isH264KeyFrameStart(Buffer.from([0x78, 0x00, 0x0a, 0x67, 0x42]))).toBe(true);
    expect(isH264KeyFrameStart(Buffer.from([0x65, 0x88]))).toBe(false);
    expect(isH264KeyFrameStart(Buffer.from([0x7c, 0x85]))).toBe(false);
    expect(isH264KeyFrameStart(Buffer.from([0x41, 0x9a]))).toBe(false);
  });
});

describe('RTP relay of an audio-only rendition', () => {
  it('forwards from the first packet (no key frame to wait for); its audio base is the first target (the venue)', async () => {
    const relay = await RtpRelay.open();
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
    const got: number[] = [];
    const three = new Promise<void>((resolve) =>
      sink.on('message', (m) => {
        got.push(m.readUInt32BE(8));
        if (got.length === 3) resolve();
      }),
    );
    const port = sink.address().port;
    relay.setTargets([
      { ssrc: 111, kind: 'audio', port },
      { ssrc: 222, kind: 'audio', port },
    ]);
    const packet = (ssrc: number, ts: number) => {
      const b = Buffer.alloc(20);
      b[0] = 0x80;
      b[1] = 100;
      b.writeUInt32BE(ts, 4);
      b.writeUInt32BE(ssrc, 8);
      b[12] = 0xf8; // one 20 ms Opus frame
      return b;
    };
    const send = (b: Buffer) => new Promise((resolve) => sink.send(b, relay.port, '127.0.0.1', resolve));
    // The commentary's packet first: the base is still the venue's first timestamp, and that packet is not
    // sent (no venue sound yet to sum it with: CommentaryShift).
    await send(packet(222, 5000));
    await send(packet(111, 960));
    await send(packet(222, 5960));
    await send(packet(111, 1920));
    await three;
    expect(got).toEqual([111, 222, 111]);
    expect(relay.firstAudioTimestamp).toBe(960);
    expect(relay.packets.heldBack).toBe(0);
    relay.close();
    sink.close();
  });
});

describe('score timeline', () => {
  const update = (seq: number, mediaTime: number) => ({
    stream: 'm',
    seq,
    mediaTime,
    sentAt: 0,
    score: {
      players: [
        { name: 'a', frames: 0, points: 0 },
        { name: 'b', frames: 0, points: 0 },
      ] as [{ name: string; frames: number; points: number }, { name: string; frames: number; points: number }],
      raceTo: 5,
      frame: 1,
      atTable: 0 as const,
    },
  });

  it('keeps the update in effect at the window start and maps PDT to mediaTime by anchors', () => {
    const log = new ScoreLog();
    for (let i = 1; i <= 5; i++) log.add(update(i, i * 1000));
    log.add(update(3, 99)); // duplicate seq: ignored
    log.prune(0, 3500);
    expect(log.since(0).map((u) => u.seq)).toEqual([3, 4, 5]);
    expect(log.since(4).map((u) => u.seq)).toEqual([3, 5]);

    const timeline = [
      { pdt: 10_000, decodeTime: 10, mediaTime: 500, msn: 0 },
      { pdt: 20_000, decodeTime: 10, mediaTime: 100, msn: 7 },
    ];
    expect(hlsMediaTimeForPdt(timeline, 9_999)).toBeUndefined();
    expect(hlsMediaTimeForPdt(timeline, 12_000)).toBe(2500);
    expect(hlsMediaTimeForPdt(timeline, 20_500)).toBe(600);
  });
});
