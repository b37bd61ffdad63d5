import { Backoff, type ScoreUpdate } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { AUDIO_PAYLOAD_TYPE, AUDIO_SSRC, VIDEO_PAYLOAD_TYPE, VIDEO_SSRC } from '../src/codecs.ts';
import { loadConfig } from '../src/config.ts';
import { buildFfmpegArgs, type FfmpegPlan } from '../src/ffmpeg-args.ts';
import { cellCenter, latencyFromClock, STRIP_BITS, STRIP_CELL } from '../src/pattern-layout.ts';
import { isRtcp, MediaClock, parseRtpHeader } from '../src/rtp.ts';
import { ScoreOutbox } from '../src/score-outbox.ts';
import { WhipHttpError, whipEndpoint } from '../src/whip-client.ts';

describe('Backoff', () => {
  it('starts around 200 ms, doubles with jitter, caps at 5 s, resets', () => {
    const lo = new Backoff({ initialDelayMs: 200, maxDelayMs: 5000, jitter: 'equal', random: () => 0 });
    const hi = new Backoff({ initialDelayMs: 200, maxDelayMs: 5000, jitter: 'equal', random: () => 1 });
    expect([lo.next(), lo.next(), lo.next()]).toEqual([100, 200, 400]);
    expect([hi.next(), hi.next(), hi.next()]).toEqual([200, 400, 800]);
    for (let i = 0; i < 40; i++) hi.next();
    expect(hi.next()).toBe(5000);
    hi.reset();
    expect(hi.next()).toBe(200);
  });
});

describe('MediaClock', () => {
  it('counts frames from the first video timestamp, across the 32-bit wrap', () => {
    const clock = new MediaClock(90_000, 30);
    const start = 2 ** 32 - 3000 * 5;
    for (let n = 0; n <= 10; n++) clock.update((start + n * 3000) % 2 ** 32);
    expect(clock.frame).toBe(10);
    expect(clock.mediaTimeMs).toBeCloseTo(10_000 / 30);
    // A late (reordered) packet does not move the clock backwards.
    clock.update((start + 9 * 3000) % 2 ** 32);
    expect(clock.frame).toBe(10);
  });

  it('continues after a source restart instead of jumping', () => {
    const clock = new MediaClock(90_000, 30);
    for (let n = 0; n < 30; n++) clock.update(1000 + n * 3000);
    expect(clock.frame).toBe(29);
    clock.sourceRestarted();
    clock.update(123_456_789);
    expect(clock.frame).toBe(30);
    clock.update(123_456_789 + 3000);
    expect(clock.frame).toBe(31);
  });

  it('gives the ticks the agent writes into video RTP timestamps (frame n = 3000 n)', () => {
    const clock = new MediaClock(90_000, 30);
    const start = 2 ** 32 - 3000 * 2;
    for (let n = 0; n < 5; n++) {
      const raw = (start + n * 3000) % 2 ** 32;
      clock.update(raw);
      expect(clock.ticksOf(raw)).toBe(n * 3000);
    }
    clock.sourceRestarted();
    clock.update(777);
    expect(clock.ticksOf(777)).toBe(5 * 3000);
  });

  it("puts GStreamer's floored timestamps back on the frame grid, and leaves a real 29.97 fps cadence alone", () => {
    // floor(n × 33333333 ns × 90 kHz): 0, 2999, 5999, ... — one tick short after frame 0.
    const gst = new MediaClock(90_000, 30);
    for (let n = 0; n <= 15; n++) {
      const raw = 1000 + Math.floor((n * 33_333_333 * 90_000) / 1e9);
      gst.update(raw);
      expect(gst.ticksOf(raw)).toBe(n * 3000);
    }
    const ntsc = new MediaClock(90_000, 30);
    for (let n = 0; n <= 15; n++) {
      ntsc.update(500 + n * 3003);
      expect(ntsc.ticksOf(500 + n * 3003)).toBe(n * 3003);
    }
  });
});

describe('RTP parsing', () => {
  it('tells RTP from RTCP on a shared port', () => {
    const rtp = Buffer.alloc(20);
    rtp[0] = 0x80;
    rtp[1] = 0x80 | VIDEO_PAYLOAD_TYPE;
    rtp.writeUInt16BE(77, 2);
    rtp.writeUInt32BE(0xdeadbeef, 4);
    rtp.writeUInt32BE(VIDEO_SSRC, 8);
    expect(isRtcp(rtp)).toBe(false);
    expect(parseRtpHeader(rtp)).toEqual({
      marker: true,
      payloadType: VIDEO_PAYLOAD_TYPE,
      sequenceNumber: 77,
      timestamp: 0xdeadbeef,
      ssrc: VIDEO_SSRC,
    });
    const sr = Buffer.from([0x80, 200, 0, 6, ...new Array(24).fill(0)]);
    expect(isRtcp(sr)).toBe(true);
    expect(parseRtpHeader(Buffer.alloc(4))).toBeUndefined();
  });
});

function update(seq: number): ScoreUpdate {
  return {
    stream: 'match',
    seq,
    mediaTime: seq * 10,
    sentAt: 0,
    score: {
      players: [
        { name: 'A', frames: 0, points: 0 },
        { name: 'B', frames: 0, points: 0 },
      ],
      raceTo: 9,
      frame: 1,
      atTable: 0,
    },
  };
}

describe('ScoreOutbox', () => {
  it('drops the oldest beyond capacity', () => {
    const box = new ScoreOutbox(3);
    for (let s = 1; s <= 5; s++) box.push(update(s));
    expect(box.length).toBe(3);
    expect(box.dropped).toBe(2);
    expect(box.peek()!.seq).toBe(3);
  });

  it('re-queues what was written after the cut-off, ahead of pending, in order', () => {
    const box = new ScoreOutbox(100);
    for (let s = 1; s <= 6; s++) box.push(update(s));
    box.markSent(1000); // 1
    box.markSent(2000); // 2
    box.markSent(3000); // 3
    box.markSent(4000); // 4
    // 5, 6 still pending. Session died; the ingest was last heard at t=2500.
    expect(box.requeueSentSince(2500)).toBe(2);
    const order: number[] = [];
    while (box.peek()) order.push(box.markSent(5000)!.seq);
    expect(order).toEqual([3, 4, 5, 6]);
    expect(box.replayed).toBe(2);
  });

  it('handles 10,000 queued updates in order', () => {
    const box = new ScoreOutbox(10_000);
    for (let s = 1; s <= 10_000; s++) box.push(update(s));
    let expected = 1;
    while (box.peek()) expect(box.markSent()!.seq).toBe(expected++);
    expect(expected).toBe(10_001);
  });
});

describe('WHIP client helpers', () => {
  it('builds the endpoint from the ingest base URL', () => {
    expect(whipEndpoint('http://127.0.0.1:8080', 'match')).toBe('http://127.0.0.1:8080/whip/match');
    expect(whipEndpoint('https://ingest.example/mm/', 'final-1')).toBe('https://ingest.example/mm/whip/final-1');
  });

  it('classifies rejections', () => {
    const cls = (status: number) => new WhipHttpError(status, undefined, '', undefined).retryClass;
    expect(cls(409)).toBe('backoff');
    expect(cls(503)).toBe('backoff');
    expect(cls(500)).toBe('backoff');
    expect(cls(429)).toBe('backoff');
    expect(cls(401)).toBe('slow');
    expect(cls(403)).toBe('slow');
    expect(cls(404)).toBe('slow');
    expect(cls(400)).toBe('slow');
  });
});

describe('config', () => {
  it('applies defaults and requires the publish token', () => {
    const c = loadConfig({ MM_PUBLISH_TOKEN: 't' });
    expect(c).toMatchObject({
      ingestUrl: 'http://127.0.0.1:8080',
      stream: 'match',
      source: 'testpattern',
      scoreIntervalMs: 2000,
      apiPort: 8090,
      apiToken: 't',
    });
    expect(() => loadConfig({})).toThrow(/MM_PUBLISH_TOKEN/);
    expect(() => loadConfig({ MM_PUBLISH_TOKEN: 't', MM_STREAM: '../x' })).toThrow(/MM_STREAM/);
  });

  it('turns the generator off for external sources and the API off on request', () => {
    const c = loadConfig({
      MM_PUBLISH_TOKEN: 't',
      MM_SOURCE: 'rtmp://127.0.0.1:1935/live',
      MM_ORIGIN_API_PORT: 'off',
      ORIGIN_API_TOKEN: 'api',
      MM_SCORE_INTERVAL_MS: '',
    });
    expect(c.scoreIntervalMs).toBe(0);
    expect(c.apiPort).toBeNull();
    expect(c.apiToken).toBe('api');
    expect(loadConfig({ MM_PUBLISH_TOKEN: 't', MM_SCORE_INTERVAL_MS: '20' }).scoreIntervalMs).toBe(20);
  });

  it('takes the picture size from MM_VIDEO_SIZE (720p by default) and refuses sizes the strips do not survive', () => {
    expect(loadConfig({ MM_PUBLISH_TOKEN: 't' }).videoSize).toEqual({ width: 1280, height: 720 });
    expect(loadConfig({ MM_PUBLISH_TOKEN: 't', MM_VIDEO_SIZE: '640x360' }).videoSize).toEqual({
      width: 640,
      height: 360,
    });
    expect(() => loadConfig({ MM_PUBLISH_TOKEN: 't', MM_VIDEO_SIZE: '320x180' })).toThrow(/MM_VIDEO_SIZE/);
    expect(() => loadConfig({ MM_PUBLISH_TOKEN: 't', MM_VIDEO_SIZE: '640x480' })).toThrow(/MM_VIDEO_SIZE/);
  });
});

describe('ffmpeg command line', () => {
  const plan: FfmpegPlan = {
    source: 'testpattern',
    videoPort: 5004,
    audioPort: 5006,
    videoBitrateKbps: 1500,
    burnStrips: true,
    loop: true,
    listen: true,
    sourceHasAudio: true,
    fontFile: '/f.ttf',
  };
  const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

  it('encodes constrained baseline, 1 s GOP, no B-frames, to fixed PT/SSRC RTP', () => {
    const args = buildFfmpegArgs(plan);
    expect(after(args, '-profile:v')).toBe('baseline');
    expect(after(args, '-tune')).toBe('zerolatency');
    expect(after(args, '-preset')).toBe('ultrafast');
    expect(after(args, '-g')).toBe('30');
    expect(after(args, '-bf')).toBe('0');
    expect(after(args, '-threads')).toBe('1');
    expect(after(args, '-c:a')).toBe('libopus');
    const outputs = args.filter((a) => a.startsWith('rtp://'));
    expect(outputs).toEqual([
      'rtp://127.0.0.1:5004?pkt_size=1200&rtcpport=5004',
      'rtp://127.0.0.1:5006?pkt_size=1200&rtcpport=5006',
    ]);
    const pts = args.flatMap((a, i) => (a === '-payload_type' ? [args[i + 1]] : []));
    expect(pts).toEqual([String(VIDEO_PAYLOAD_TYPE), String(AUDIO_PAYLOAD_TYPE)]);
    const ssrcs = args.flatMap((a, i) => (a === '-ssrc' ? [args[i + 1]] : []));
    expect(ssrcs).toEqual([String(VIDEO_SSRC), String(AUDIO_SSRC)]);
    expect(args).toContain('sine=frequency=440:sample_rate=48000');
  });

  it('draws the test pattern at the configured size and scales external sources to it', () => {
    const small = buildFfmpegArgs({ ...plan, size: { width: 640, height: 360 } });
    expect(small).toContain('color=c=0x1e1e1e:s=640x360:r=30');
    // The strips scale with the picture: 24 px cells at 720p are 12 px at 360p.
    expect(after(small, '-filter_complex')).toContain("drawbox=x=12:y=0:w=12:h=12:color='white'");
    expect(after(buildFfmpegArgs(plan), '-filter_complex')).toContain("drawbox=x=24:y=0:w=24:h=24:color='white'");
    const file = buildFfmpegArgs({ ...plan, source: '/media/final.mp4', size: { width: 640, height: 360 } });
    expect(after(file, '-filter_complex')).toContain('pad=640:360:');
  });

  it('listens for RTMP, loops files, and fills in silence for audio-less files', () => {
    const rtmp = buildFfmpegArgs({ ...plan, source: 'rtmp://127.0.0.1:1935/live', burnStrips: false });
    expect(rtmp.slice(rtmp.indexOf('-listen'), rtmp.indexOf('-listen') + 4)).toEqual([
      '-listen',
      '1',
      '-i',
      'rtmp://127.0.0.1:1935/live',
    ]);
    expect(after(rtmp, '-filter_complex')).not.toContain('drawbox');
    const file = buildFfmpegArgs({ ...plan, source: '/media/final.mp4', sourceHasAudio: false });
    expect(file.slice(0, file.indexOf('-i') + 2)).toContain('-stream_loop');
    expect(file).toContain('anullsrc=r=48000:cl=stereo');
    expect(after(file, '-filter_complex')).toContain('drawbox'); // burnStrips on
    expect(file[file.lastIndexOf('-map') + 1]).toBe('1:a');
  });
});

describe('pattern layout', () => {
  it('places 32 cells of 24 px, MSB first, scaled with the video', () => {
    expect(STRIP_BITS).toBe(32);
    expect(STRIP_CELL).toBeGreaterThanOrEqual(16);
    expect(cellCenter('frame', 0)).toEqual({ x: 12, y: 12 });
    expect(cellCenter('clock', 31)).toEqual({ x: 31 * 24 + 12, y: 36 });
    expect(cellCenter('clock', 31, 640, 360)).toEqual({ x: 378, y: 18 });
    expect(latencyFromClock(2 ** 32 - 10, 2 ** 32 + 90)).toBe(100);
  });
});
