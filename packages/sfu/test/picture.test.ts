import { describe, expect, it } from 'vitest';
import { h264SpsSize, keyFramePictureSize } from '../src/stable/picture.ts';

/**
 * Layer descriptions come from the media: the picture size each layer's key
 * frames announce. SPS bytes below are libx264's (Debian ffmpeg,
 * `-f lavfi -i testsrc=size=WxH -c:v libx264 -profile:v P -f h264`).
 */

const SPS: [string, string, { width: number; height: number }][] = [
  ['320x180 baseline', '6742c00dd901419f9f0110000003001000000303c0f142a480', { width: 320, height: 180 }],
  ['160x90 baseline', '6742c00bd9028df930110000030001000003003c0f142a48', { width: 160, height: 90 }],
  ['80x46 baseline', '6742c00ad9057fac0440000003004000000f03c48992', { width: 80, height: 46 }],
  ['1280x720 main', '674d401feca02802dd8088000003000800000301e078c18cb0', { width: 1280, height: 720 }],
  [
    '1920x1080 high (cropped from 1088)',
    '67640028acd940780227e5c044000003000400000300f03c60c658',
    { width: 1920, height: 1080 },
  ],
  ['1280x720 high, interlaced', '67640020acd940500bbf2e0220000003002000000c83e2c5b2c0', { width: 1280, height: 720 }],
];

function rtp(payload: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = 102;
  return Buffer.concat([header, payload]);
}

describe('picture size of a key frame', () => {
  for (const [what, hex, size] of SPS) {
    it(`reads ${what} from its SPS, alone and in a STAP-A`, () => {
      const sps = Buffer.from(hex, 'hex');
      expect(h264SpsSize(sps)).toEqual(size);
      expect(keyFramePictureSize(rtp(sps), 'video/H264')).toEqual(size);
      const pps = Buffer.from('68ce3c80', 'hex');
      const stap = Buffer.concat([Buffer.from([0x78, 0, sps.length]), sps, Buffer.from([0, pps.length]), pps]);
      expect(keyFramePictureSize(rtp(stap), 'video/H264')).toEqual(size);
    });
  }

  it('reads a VP8 key frame header (libvpx 640x360) and ignores what is not a key frame', () => {
    const frame = Buffer.from('909c009d012a8002680100470885858885848802', 'hex');
    expect(keyFramePictureSize(rtp(Buffer.concat([Buffer.from([0x10]), frame])), 'video/VP8')).toEqual({
      width: 640,
      height: 360,
    });
    expect(keyFramePictureSize(rtp(Buffer.from([0x41, 0x9a, 0, 0])), 'video/H264')).toBeUndefined();
    expect(h264SpsSize(Buffer.from([0x67, 0x42]))).toBeUndefined();
    // A truncated SPS gives nothing rather than a wrong size.
    expect(h264SpsSize(Buffer.from('6742c00dd901', 'hex'))).toBeUndefined();
  });
});
