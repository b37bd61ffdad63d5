import { encoderBytes } from '/work/main/bench/src/scenarios/ttff-keyframes.ts';
const out: Record<number, number[]> = { 0: [], 600: [], 800: [] };
for (let r = 0; r < 3; r++) {
  for (const every of [0, 600, 800]) {
    const { kbps, forced, periodic } = await encoderBytes(8, every);
    out[every]!.push(Math.round(kbps));
    console.log(`round ${r} every ${every} ms: ${kbps.toFixed(0)} kbit/s, forced ${forced}, periodic ${periodic}`);
  }
}
for (const every of [600, 800]) {
  const ratios = out[every]!.map((k, i) => ((k / out[0]![i]! - 1) * 100).toFixed(1));
  console.log(`every ${every} ms vs none, per round: ${ratios.join(' / ')} %`);
}
