import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initWithoutTrack, mediaWithoutTrack } from '../src/demux.ts';
import { childBoxes, parseMoov } from '../src/fmp4.ts';

/**
 * The video-only view of a muxed rendition: a real ffmpeg writes muxed fMP4
 * the way the packager does (frag_keyframe+empty_moov+default_base_moof),
 * the audio track is taken out, and ffprobe/ffmpeg read what is left.
 */
describe('dropping the audio track of a muxed fMP4 (video-only renditions for an audio group)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mm-demux-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const muxed = path.join(dir, 'muxed.mp4');
  execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=30:duration=2'],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=2'],
    ...['-c:v', 'libx264', '-g', '15', '-c:a', 'aac', '-f', 'mp4'],
    ...['-movflags', 'frag_keyframe+empty_moov+default_base_moof', '-frag_duration', '180000', muxed],
  ]);
  const file = readFileSync(muxed);
  const boxes = [...childBoxes(file)];
  const moovIndex = boxes.findIndex((b) => b.type === 'moov');
  const init = Buffer.concat(boxes.slice(0, moovIndex + 1).map((b) => b.data));
  const media = Buffer.concat(boxes.slice(moovIndex + 1).map((b) => b.data));
  const tracks = parseMoov(boxes[moovIndex]!.data.subarray(8));
  const audio = tracks.find((t) => t.kind === 'audio')!;

  const probe = (f: string) =>
    JSON.parse(
      execFileSync(
        'ffprobe',
        ['-v', 'error', '-show_entries', 'stream=codec_type,nb_read_frames', '-count_frames', '-of', 'json', f],
        {
          encoding: 'utf8',
        },
      ),
    ) as { streams: { codec_type: string; nb_read_frames: string }[] };

  it('leaves a video-only file whose every frame decodes', () => {
    const out = path.join(dir, 'video.mp4');
    writeFileSync(out, Buffer.concat([initWithoutTrack(init, audio.id), mediaWithoutTrack(media, audio.id)]));
    const before = probe(muxed).streams;
    const after = probe(out).streams;
    expect(before.map((s) => s.codec_type).sort()).toEqual(['audio', 'video']);
    expect(after.map((s) => s.codec_type)).toEqual(['video']);
    expect(after[0]!.nb_read_frames).toBe(before.find((s) => s.codec_type === 'video')!.nb_read_frames);
    expect(Number(after[0]!.nb_read_frames)).toBe(60);
    expect(
      parseMoov([...childBoxes(initWithoutTrack(init, audio.id))].find((b) => b.type === 'moov')!.data.subarray(8)).map(
        (t) => t.kind,
      ),
    ).toEqual(['video']);
    // Smaller by the audio's bytes; a fragment without such a track passes unchanged.
    expect(readFileSync(out).length).toBeLessThan(file.length);
    expect(mediaWithoutTrack(media, 99)).toEqual(media);
  });
});
