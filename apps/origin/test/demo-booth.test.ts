import type { TransportInfo } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { defaultToneHz, parseBoothConfig, toneFfmpegArgs, toneLevel } from '../src/demo-booth/config.ts';
import { AUDIO_LEVEL_URI, answerSdp } from '../src/demo-booth/session.ts';

const base = { MM_BOOTH_NODE_URL: 'http://127.0.0.1:8080', MM_BOOTH_TOKEN: 'tok', MM_BOOTH_LANG: 'es' };

describe('demo booth config', () => {
  it('fills defaults: stream match, the language’s own pitch, one beep a second', () => {
    const c = parseBoothConfig(base);
    expect(c).toMatchObject({ stream: 'match', lang: 'es', toneHz: 900, beepsPerSecond: 1, ffmpeg: 'ffmpeg' });
    expect(parseBoothConfig({ ...base, MM_BOOTH_LANG: 'en' }).toneHz).toBe(600);
  });

  it('takes explicit values from env strings', () => {
    const c = parseBoothConfig({ ...base, MM_STREAM: 'final', MM_BOOTH_TONE_HZ: '1500', MM_BOOTH_BEEPS_PER_S: '2.5' });
    expect(c).toMatchObject({ stream: 'final', toneHz: 1500, beepsPerSecond: 2.5 });
  });

  it('names every bad variable', () => {
    expect(() => parseBoothConfig({ MM_BOOTH_NODE_URL: 'not a url', MM_BOOTH_LANG: 'en_US!' })).toThrow(
      /MM_BOOTH_NODE_URL.*MM_BOOTH_TOKEN.*MM_BOOTH_LANG/,
    );
    expect(() => parseBoothConfig({ ...base, MM_BOOTH_TONE_HZ: '20000' })).toThrow(/MM_BOOTH_TONE_HZ/);
  });

  it('gives other languages a stable pitch in the voice band', () => {
    const hz = defaultToneHz('pt-BR');
    expect(hz).toBe(defaultToneHz('pt-BR'));
    expect(hz).toBeGreaterThanOrEqual(300);
    expect(hz).toBeLessThanOrEqual(1500);
  });

  it('ffmpeg sends mono Opus 20 ms RTP with our payload type and SSRC, commas escaped in the lavfi graph', () => {
    const args = toneFfmpegArgs(parseBoothConfig(base), 5555, 111, 42);
    const joined = args.join(' ');
    expect(joined).toContain('-rtpflags skip_rtcp -payload_type 111 -ssrc 42');
    expect(joined).toContain('-c:a libopus');
    expect(joined).toContain('-frame_duration 20 -ac 1');
    // connect=1: a SIGKILLed booth's port answers ICMP unreachable and its orphaned ffmpeg fails and exits.
    expect(args.at(-1)).toBe('rtp://127.0.0.1:5555?pkt_size=1200&connect=1');
    const source = args[args.indexOf('-i') + 1]!;
    expect(source).toContain('sin(2*PI*900*t)');
    expect(source.replace(/\\,/g, '')).not.toContain(',');
  });
});

describe('demo booth audio level', () => {
  it('labels a packet with the tone’s level while the beep is on, silence between beeps', () => {
    const c = { beepsPerSecond: 1 };
    // A sine of amplitude 0.25: RMS 0.177 = −15 dBov.
    expect(toneLevel(c, 0)).toBe(15);
    expect(toneLevel(c, 0.48)).toBe(15);
    expect(toneLevel(c, 0.5)).toBe(127);
    expect(toneLevel(c, 0.98)).toBe(127);
    expect(toneLevel(c, 7.2)).toBe(15);
    expect(toneLevel({ beepsPerSecond: 2.5 }, 0.3)).toBe(127);
  });
});

describe('demo booth answer SDP', () => {
  const transport: TransportInfo = {
    id: 't1',
    iceParameters: { usernameFragment: 'uf', password: 'pw', iceLite: true },
    iceCandidates: [
      {
        foundation: 'udpcandidate',
        priority: 1076302079,
        ip: '127.0.0.1',
        address: '127.0.0.1',
        protocol: 'udp',
        port: 44400,
        type: 'host',
      },
      {
        foundation: 'tcpcandidate',
        priority: 1076276479,
        ip: '127.0.0.1',
        address: '127.0.0.1',
        protocol: 'tcp',
        port: 44400,
        type: 'host',
        tcpType: 'passive',
      },
    ],
    dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] },
  };
  const offer =
    'v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n';

  it('answers the offer’s mid and extension id as the node’s ICE-lite, DTLS-server transport', () => {
    const sdp = answerSdp(offer, transport);
    expect(sdp).toContain('a=ice-lite');
    expect(sdp).toContain('a=mid:0');
    expect(sdp).toContain('a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid');
    expect(sdp).toContain('a=setup:passive');
    expect(sdp).toContain('a=fingerprint:sha-256 AA:BB');
    expect(sdp).toContain('a=candidate:udpcandidate 1 udp 1076302079 127.0.0.1 44400 typ host\r\n');
    expect(sdp).toContain('a=candidate:tcpcandidate 1 tcp 1076276479 127.0.0.1 44400 typ host tcptype passive\r\n');
  });

  it('answers the RFC 6464 audio level extension with the offer’s id (the node reads each packet’s level)', () => {
    expect(answerSdp(offer, transport)).not.toContain(AUDIO_LEVEL_URI);
    const sdp = answerSdp(`${offer}a=extmap:2 ${AUDIO_LEVEL_URI}\r\n`, transport);
    expect(sdp).toContain(`a=extmap:2 ${AUDIO_LEVEL_URI}\r\n`);
  });

  it('refuses a transport without a fingerprint', () => {
    expect(() => answerSdp(offer, { ...transport, dtlsParameters: { role: 'auto', fingerprints: [] } })).toThrow(
      /fingerprint/,
    );
  });
});
