/**
 * Onsets of one tone in mono float PCM, for tests that time clicks through a mix: 5 ms Goertzel windows
 * (stepped by 1 ms) whose amplitude at `hz` is above 0.1 start a click, and a window counts as a new click
 * only 300 ms after the last loud one. Fed in chunks (a decoder's stdout): it remembers the last loud
 * window across calls, so a caller that overlaps chunks by a window finds a click spanning two once.
 */
export function toneOnsets(hz: number, sampleRate: number): (pcm: Float32Array, base?: number) => number[] {
  const n = Math.round(sampleRate * 0.005);
  const step = Math.round(sampleRate * 0.001);
  const coeff = 2 * Math.cos((2 * Math.PI * hz) / sampleRate);
  let last = Number.NEGATIVE_INFINITY;
  /** Sample indices (offset by `base`, where `pcm` starts in the whole signal) of each click's first loud window. */
  return (pcm, base = 0) => {
    const found: number[] = [];
    for (let start = 0; start + n <= pcm.length; start += step) {
      let s1 = 0;
      let s2 = 0;
      for (let i = start; i < start + n; i++) {
        const s0 = pcm[i]! + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      const amplitude = (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - coeff * s1 * s2))) / n;
      if (amplitude < 0.1) continue;
      const at = base + start;
      if (at - last >= sampleRate * 0.3) found.push(at);
      last = at;
    }
    return found;
  };
}
