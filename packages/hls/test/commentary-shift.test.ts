import { describe, expect, it } from 'vitest';
import { CommentaryShift, OPUS_SILENCE_20MS, opusPacketSamples } from '../src/CommentaryShift.ts';

/** An RTP packet of one 20 ms CELT frame (TOC 0xF8 + a marker byte), sequence and timestamp as given. */
function opusPacket(seq: number, ts: number, ssrc = 0xabcd): Buffer {
  const b = Buffer.alloc(14);
  b[0] = 0x80;
  b[1] = 100;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc, 8);
  b[12] = 0xf8;
  b[13] = 0x42;
  return b;
}

/**
 * Venue and commentary packets arriving every 20 ms, the venue first: what the shift sends ffmpeg, and how far
 * the commentary summed with the venue is from the venue `delayMs` earlier (ms, after each packet).
 */
class Feed {
  readonly shift: CommentaryShift;
  readonly sent: Buffer[] = [];
  #venueTs = 123_456;
  #seq = 7;
  #ts = 4_000_000_000;
  venueSamples = 0;

  constructor(delayMs: number) {
    this.shift = new CommentaryShift(delayMs);
  }

  /** n steps of 20 ms; `lose` drops the commentary packet of a step (by index from 0). */
  run(n: number, lose: (i: number) => boolean = () => false): void {
    for (let i = 0; i < n; i++) {
      this.shift.onVenue(this.#venueTs);
      this.#venueTs = (this.#venueTs + 960) >>> 0;
      this.venueSamples += 960;
      const p = opusPacket(this.#seq++, this.#ts);
      this.#ts = (this.#ts + 960) >>> 0;
      if (!lose(i)) this.sent.push(...this.shift.onCommentary(p, 12));
    }
  }

  /** The commentary sent so far (ms) less (the venue so far − the delay): 0 when on the picture. */
  get offsetMs(): number {
    const commentary = this.sent.reduce((n, p) => n + opusPacketSamples(p.subarray(12))!, 0);
    return (commentary - (this.venueSamples - this.shift.delayMs * 48)) / 48;
  }
}

describe('CommentaryShift: the commentary summed with the venue sound of its delay earlier', () => {
  it('reads an Opus packet duration from its TOC byte', () => {
    expect(opusPacketSamples(OPUS_SILENCE_20MS)).toBe(960);
    expect(opusPacketSamples(Buffer.from([0x78]))).toBe(960); // hybrid fullband 20 ms
    expect(opusPacketSamples(Buffer.from([0x08]))).toBe(960); // SILK narrowband 20 ms
    expect(opusPacketSamples(Buffer.from([0x19]))).toBe(5760); // SILK 60 ms, two frames
    expect(opusPacketSamples(Buffer.from([0xf3, 0x03]))).toBe(1440); // CELT 10 ms, three frames
    expect(opusPacketSamples(Buffer.alloc(0))).toBeUndefined();
  });

  it('starts once the venue is the delay ahead and keeps the commentary there', () => {
    const feed = new Feed(190);
    feed.run(9);
    expect(feed.sent).toEqual([]);
    feed.run(500);
    expect(Math.abs(feed.offsetMs)).toBeLessThanOrEqual(20);
    expect(feed.shift.stats.inserted).toBeLessThanOrEqual(1);
  });

  it('inserts silence when the delay shrinks and drops packets when it grows', () => {
    const feed = new Feed(300);
    feed.run(100);
    feed.shift.setDelayMs(100);
    feed.run(50);
    expect(feed.shift.stats.inserted).toBe(10);
    expect(Math.abs(feed.offsetMs)).toBeLessThanOrEqual(20);
    const dropped = feed.shift.stats.dropped;
    feed.shift.setDelayMs(260);
    feed.run(50);
    expect(feed.shift.stats.dropped - dropped).toBe(8);
    expect(Math.abs(feed.offsetMs)).toBeLessThanOrEqual(20);
  });

  it('leaves a change within the arrival jitter alone', () => {
    const feed = new Feed(200);
    feed.run(100);
    const before = { ...feed.shift.stats };
    feed.shift.setDelayMs(220);
    feed.run(100);
    expect(feed.shift.stats).toEqual(before);
  });

  it('fills lost packets and a stall with silence so later reactions stay on their frames', () => {
    const feed = new Feed(150);
    feed.run(100);
    feed.run(100, (i) => i % 10 === 0 || (i >= 50 && i < 75));
    feed.run(50);
    expect(feed.shift.stats.inserted).toBeGreaterThanOrEqual(25);
    // Losses keep coming: corrected each time the mean passes the 30 ms tolerance, plus one 20 ms frame.
    expect(Math.abs(feed.offsetMs)).toBeLessThanOrEqual(50);
  });

  it('counts a jump of the venue timestamps (its source changed) as one packet', () => {
    const shift = new CommentaryShift(0);
    const sent: Buffer[] = [];
    let ts = 1000;
    for (let i = 0; i < 200; i++) {
      // The venue's source changes at packet 100: its timestamps jump by an hour.
      if (i === 100) ts += 48000 * 3600;
      shift.onVenue(ts);
      ts += 960;
      sent.push(...shift.onCommentary(opusPacket(i, i * 960), 12));
    }
    expect(sent).toHaveLength(200);
    expect(shift.stats).toEqual({ dropped: 0, inserted: 0 });
  });

  it('sends one continuous stream: sequence numbers and timestamps follow what was sent', () => {
    const feed = new Feed(300);
    feed.run(100);
    feed.shift.setDelayMs(0);
    feed.run(100);
    expect(feed.shift.stats.inserted).toBeGreaterThan(0);
    feed.sent.forEach((p, i) => {
      expect(p.readUInt16BE(2)).toBe(i);
      expect(p.readUInt32BE(4)).toBe(i * 960);
      expect(p.readUInt32BE(8)).toBe(0xabcd);
      expect(p[1]! & 0x7f).toBe(100);
    });
  });

  it('sends nothing before the venue and nothing for a packet that is not RTP', () => {
    const shift = new CommentaryShift(0);
    expect(shift.onCommentary(opusPacket(1, 960), 12)).toEqual([]);
    shift.onVenue(1000);
    expect(shift.onCommentary(opusPacket(2, 1920), -1)).toEqual([]);
    expect(shift.onCommentary(opusPacket(3, 2880), 12)).toHaveLength(1);
  });
});
