import { describe, expect, it } from 'vitest';
import { AUDIO_SSRC, RTP_STREAM_ID_URI, VIDEO_PAYLOAD_TYPE, VIDEO_SSRC } from '../src/codecs.ts';
import { loadConfig } from '../src/config.ts';
import { buildFfmpegArgs, type FfmpegPlan } from '../src/ffmpeg-args.ts';
import {
  capLadderFps,
  DEFAULT_LADDER,
  h264Level,
  ladderProfileLevelId,
  parseLadder,
  ridRestrictions,
} from '../src/ladder.ts';
import { LayerTimeline } from '../src/rtp.ts';
import { answeredRids } from '../src/session.ts';
import { simulcastOffer } from '../src/simulcast-sdp.ts';

describe('ladder parsing (MM_LADDER)', () => {
  it('reads the default ladder lowest first: rids r0..r2, SSRCs MMV\\x01.., one level per layer', () => {
    const ladder = parseLadder(DEFAULT_LADDER);
    expect(ladder).toEqual([
      {
        rid: 'r0',
        width: 640,
        height: 360,
        maxFps: 30,
        kbps: 600,
        level: '3.0',
        profileLevelId: '42e01e',
        ssrc: VIDEO_SSRC,
      },
      {
        rid: 'r1',
        width: 1280,
        height: 720,
        maxFps: 60,
        kbps: 2000,
        level: '3.2',
        profileLevelId: '42e020',
        ssrc: VIDEO_SSRC + 1,
      },
      {
        rid: 'r2',
        width: 1920,
        height: 1080,
        maxFps: 60,
        kbps: 4500,
        level: '4.2',
        profileLevelId: '42e02a',
        ssrc: VIDEO_SSRC + 2,
      },
    ]);
    // Any order in, lowest first out; a missing @FPS takes the fallback.
    expect(parseLadder(' 640x360:600 , 1920x1080@60:4500 ').map((l) => `${l.rid}:${l.height}@${l.maxFps}`)).toEqual([
      'r0:360@30',
      'r1:1080@60',
    ]);
    expect(ridRestrictions(ladder[2]!)).toBe('max-width=1920;max-height=1080;max-fps=60');
    expect(ladderProfileLevelId(ladder)).toBe('42e02a');
    // Never below 3.1 in the SDP (what every receiver offers), whatever the layers.
    expect(ladderProfileLevelId(parseLadder('640x360@30:600,320x180@30:300'))).toBe('42e01f');
  });

  it('picks the lowest H.264 level that carries size, rate and bitrate', () => {
    expect(h264Level(1920, 1080, 60, 4500).name).toBe('4.2');
    expect(h264Level(1920, 1080, 30, 4500).name).toBe('4.0');
    expect(h264Level(1920, 1080, 30, 25_000).name).toBe('4.1');
    expect(h264Level(1280, 720, 60, 2000).name).toBe('3.2');
    expect(h264Level(1280, 720, 30, 1500).name).toBe('3.1');
    expect(h264Level(640, 360, 30, 600).name).toBe('3.0');
    expect(h264Level(160, 90, 30, 150).name).toBe('2.1');
  });

  it('refuses a bad ladder with the reason and the entry', () => {
    const bad: Array<[string, RegExp]> = [
      ['1280x720', /expected WxH@FPS:KBPS/],
      ['1280x720@60', /expected WxH@FPS:KBPS/],
      ['1281x720@30:1000', /even/],
      ['3840x2160@30:9000', /within 64x64 \.\. 1920x1080/],
      ['1280x720@120:2000', /frame rate must be 1\.\.60/],
      ['1280x720@30:10', /bitrate must be 50\.\.20000/],
      ['640x360@30:600,640x360@30:900', /same size and frame rate/],
      ['1280x720@30:500,640x360@30:600', /must not have less bitrate/],
      ['1280x720@30:2000,640x480@30:600', /aspect ratio/],
      ['1920x1080:1,1280x720:1,960x540:1,640x360:1,320x180:1', /at most 4/],
      ['', /empty ladder/],
    ];
    for (const [text, reason] of bad) expect(() => parseLadder(text), text).toThrow(reason);
    // Two frame rates of one size are two layers.
    expect(parseLadder('1280x720@30:1500,1280x720@60:2500').map((l) => l.maxFps)).toEqual([30, 60]);
  });

  it('caps the layers at a known source rate (the 30 fps test pattern) and lowers their levels', () => {
    const capped = capLadderFps(parseLadder(DEFAULT_LADDER), 30);
    expect(capped.map((l) => `${l.maxFps} ${l.level} ${l.profileLevelId}`)).toEqual([
      '30 3.0 42e01e',
      '30 3.1 42e01f',
      '30 4.0 42e028',
    ]);
  });
});

describe('config: MM_LADDER, MM_X264_PRESET', () => {
  it('publishes the default three-layer ladder; off (or a typo-free alias) keeps one layer', () => {
    const c = loadConfig({ MM_PUBLISH_TOKEN: 't' });
    expect(c.ladder?.map((l) => `${l.width}x${l.height}@${l.maxFps}:${l.kbps}`)).toEqual([
      '640x360@30:600',
      '1280x720@60:2000',
      '1920x1080@60:4500',
    ]);
    expect(c.x264Preset).toBe('ultrafast');
    for (const off of ['off', 'OFF', 'none'])
      expect(loadConfig({ MM_PUBLISH_TOKEN: 't', MM_LADDER: off }).ladder).toBe(undefined);
    expect(loadConfig({ MM_PUBLISH_TOKEN: 't', MM_LADDER: '640x360@30:600,320x180@30:300' }).ladder).toHaveLength(2);
    expect(loadConfig({ MM_PUBLISH_TOKEN: 't', MM_X264_PRESET: 'veryfast' }).x264Preset).toBe('veryfast');
  });

  it('fails at start-up on a bad ladder or preset, naming the variable, the entry and the accepted form', () => {
    expect(() => loadConfig({ MM_PUBLISH_TOKEN: 't', MM_LADDER: '1920x1080@60:4500,720p' })).toThrow(
      /MM_LADDER: "720p": expected WxH@FPS:KBPS.*or "off"/,
    );
    expect(() => loadConfig({ MM_PUBLISH_TOKEN: 't', MM_X264_PRESET: 'placebo' })).toThrow(/MM_X264_PRESET/);
  });
});

describe('ffmpeg command line of a ladder', () => {
  const ladder = parseLadder('640x360@30:600,320x180@30:300,160x90@30:150');
  const plan: FfmpegPlan = {
    source: 'testpattern',
    videoPort: 0,
    audioPort: 5006,
    videoBitrateKbps: 0,
    burnStrips: true,
    loop: true,
    listen: true,
    sourceHasAudio: true,
    fontFile: '/f.ttf',
    ladder: { layers: ladder, layerPorts: [5010, 5012, 5014], keyframeIntervalMs: 500 },
  };
  const all = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
  const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1]!;

  it('decodes (draws) once at the top size, splits, scales each lower layer, one x264 and one RTP output per layer', () => {
    const args = buildFfmpegArgs(plan);
    expect(args).toContain('color=c=0x1e1e1e:s=640x360:r=30');
    const graph = after(args, '-filter_complex');
    expect(graph).toContain('[top];[top]split=3[s0][s1][s2];[s0]scale=160:90:flags=bilinear[v0];');
    expect(graph).toContain('[s1]scale=320:180:flags=bilinear[v1];[s2]null[v2]');
    expect(graph).not.toContain('select'); // the pattern's 30 fps is under every cap
    expect(all(args, '-map')).toEqual(['[v0]', '[v1]', '[v2]', '1:a']);
    expect(all(args, '-c:v')).toEqual(['libx264', 'libx264', 'libx264']);
    expect(all(args, '-profile:v')).toEqual(['baseline', 'baseline', 'baseline']);
    expect(all(args, '-level:v')).toEqual(['2.1', '2.1', '3.0']);
    expect(all(args, '-b:v')).toEqual(['150k', '300k', '600k']);
    // Key frames at the same instants in every layer: forced by time, no scene-cut or early x264 ones.
    expect(all(args, '-force_key_frames')).toEqual(Array(3).fill('expr:gte(t,n_forced*0.5)'));
    expect(all(args, '-sc_threshold')).toEqual(['0', '0', '0']);
    expect(all(args, '-g')).toEqual(['30', '30', '30']);
    expect(all(args, '-bf')).toEqual(['0', '0', '0']);
    expect(all(args, '-fps_mode')).toEqual(['passthrough', 'passthrough', 'passthrough']);
    expect(all(args, '-payload_type')).toEqual([...Array(3).fill(String(VIDEO_PAYLOAD_TYPE)), '111']);
    expect(all(args, '-ssrc')).toEqual([...ladder.map((l) => String(l.ssrc)), String(AUDIO_SSRC)]);
    expect(args.filter((a) => a.startsWith('rtp://'))).toEqual([
      'rtp://127.0.0.1:5010?pkt_size=1200&rtcpport=5010',
      'rtp://127.0.0.1:5012?pkt_size=1200&rtcpport=5012',
      'rtp://127.0.0.1:5014?pkt_size=1200&rtcpport=5014',
      'rtp://127.0.0.1:5006?pkt_size=1200&rtcpport=5006',
    ]);
  });

  it("keeps an external source's own frame rate and caps each layer by dropping frames only", () => {
    const layers = parseLadder(DEFAULT_LADDER);
    const args = buildFfmpegArgs({
      ...plan,
      source: 'rtmp://0.0.0.0:1935/live',
      burnStrips: false,
      ladder: { layers, layerPorts: [5010, 5012, 5014], keyframeIntervalMs: 1000, preset: 'superfast' },
    });
    const graph = after(args, '-filter_complex');
    expect(graph).toMatch(/^\[0:v:0\]scale=w=1920:h=1080:force_original_aspect_ratio=decrease,pad=1920:1080:/);
    expect(graph).not.toContain('fps=');
    expect(graph).toContain(
      "[s0]scale=640:360:flags=bilinear,select=expr='isnan(prev_selected_t)+gte(t-prev_selected_t\\,0.03)'[v0]",
    );
    expect(graph).toContain("[s2]select=expr='isnan(prev_selected_t)+gte(t-prev_selected_t\\,0.015)'[v2]");
    // Only the layer thinned below the top rate tells x264 its rate (VBV sizing).
    expect(all(args, '-x264-params')).toEqual(['repeat-headers=1:fps=30', 'repeat-headers=1', 'repeat-headers=1']);
    expect(all(args, '-preset')).toEqual(['superfast', 'superfast', 'superfast']);
    expect(all(args, '-level:v')).toEqual(['3.0', '3.2', '4.2']);
    expect(all(args, '-threads')).toEqual(['1', '2', '2']);
    expect(all(args, '-g')).toEqual(['60', '120', '120']);
  });
});

describe('simulcast offer', () => {
  const offer = [
    'v=0',
    'o=- 1 1 IN IP4 0.0.0.0',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1 2',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=mid:0',
    `a=ssrc:${AUDIO_SSRC} cname:x`,
    'm=video 9 UDP/TLS/RTP/SAVPF 102',
    'a=mid:1',
    `a=ssrc:${VIDEO_SSRC} cname:x`,
    'a=rtpmap:102 H264/90000',
    'a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid',
    `a=extmap:4 ${RTP_STREAM_ID_URI}`,
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'a=mid:2',
    '',
  ].join('\r\n');
  const ladder = parseLadder('640x360@30:600,320x180@30:300');

  it('declares the rids (lowest first) and a=simulcast in the video section, drops its SSRC, leaves the rest', () => {
    const out = simulcastOffer(offer, ladder);
    expect(out).toBe(
      offer
        .replace(`a=ssrc:${VIDEO_SSRC} cname:x\r\n`, '')
        .replace(
          `a=extmap:4 ${RTP_STREAM_ID_URI}\r\n`,
          `a=extmap:4 ${RTP_STREAM_ID_URI}\r\na=rid:r0 send max-width=320;max-height=180;max-fps=30\r\na=rid:r1 send max-width=640;max-height=360;max-fps=30\r\na=simulcast:send r0;r1\r\n`,
        ),
    );
  });

  it("reads the rids an answer's a=simulcast keeps (paused ones too, either direction)", () => {
    expect([...answeredRids('video 9 x\r\na=rid:r0 recv\r\na=simulcast:recv r0;~r2\r\n')]).toEqual(['r0', 'r2']);
    expect([...answeredRids('a=simulcast:send r0,r1;r2\n')]).toEqual(['r0', 'r1', 'r2']);
    expect(answeredRids('a=mid:1\r\n').size).toBe(0);
  });

  it('refuses an offer without the rid extension or a video section', () => {
    expect(() => simulcastOffer(offer.replace(`a=extmap:4 ${RTP_STREAM_ID_URI}\r\n`, ''), ladder)).toThrow(
      /rtp-stream-id/,
    );
    expect(() => simulcastOffer('v=0\r\nm=audio 9 RTP/AVP 0\r\n', ladder)).toThrow(/one video m-section/);
  });
});

describe('LayerTimeline', () => {
  const packet = (seq: number, ts: number) => {
    const b = Buffer.alloc(12);
    b[0] = 0x80;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(ts >>> 0, 4);
    return b;
  };

  it("puts every layer on one timeline (its ts since its first frame) and keeps each layer's sequence continuous across restarts", () => {
    const t = new LayerTimeline(2);
    // Two layers with ffmpeg's random bases; the same frames.
    expect([t.map(0, packet(100, 5_000_000)), t.map(1, packet(40_000, 4_294_967_000))]).toEqual([0, 0]);
    expect([t.map(0, packet(101, 5_003_000)), t.map(1, packet(40_001, 2_704))]).toEqual([3000, 3000]);
    const p = packet(102, 5_006_000);
    t.map(0, p);
    expect(p.readUInt16BE(2)).toBe(102);
    // ffmpeg restarts: new bases; sequence numbers continue per layer, the timeline restarts at 0 (the MediaClock re-bases).
    t.sourceRestarted();
    const a = packet(7, 123);
    const b = packet(65_535, 999);
    expect([t.map(0, a), t.map(1, b)]).toEqual([0, 0]);
    expect([a.readUInt16BE(2), b.readUInt16BE(2)]).toEqual([103, 40_002]);
    const c = packet(0, 999 + 3000);
    expect(t.map(1, c)).toBe(3000);
    expect(c.readUInt16BE(2)).toBe(40_003);
  });
});
