// The longhaul scenario's loss patterns and haul, from its flags
// (--longhaul-patterns, --longhaul-rtt-ms), each shape validated like any
// other (test/src/path-shaper.ts), so a bad flag names itself and its reason.
import { type PathShape, parsePathShape } from '../../../test/src/path-shaper.ts';

export interface LossPattern {
  label: string;
  shape: PathShape;
}

/** One way of the haul: half the round trip. */
export function haulShape(rttMs: number): PathShape {
  return parsePathShape({ delayMs: rttMs / 2 }, '--longhaul-rtt-ms');
}

/**
 * `0`, `<pct>r` (random loss, independent per packet) or `<pct>b` (bursty:
 * Gilbert–Elliott with a stationary loss of pct, 4 packets a burst on
 * average: exit 25 %, enter 25·pct/(100−pct) %), comma-separated.
 */
export function lossPatterns(list: string, haul: PathShape): LossPattern[] {
  return list.split(',').map((token) => {
    const where = `--longhaul-patterns "${token}"`;
    if (token === '0') return { label: '0 %', shape: haul };
    const m = /^(\d+(?:\.\d+)?)([rb])$/.exec(token);
    if (!m) throw new Error(`${where}: expected 0, <pct>r (random) or <pct>b (bursty), e.g. 2r,2b,5b`);
    const pct = Number(m[1]);
    if (m[2] === 'r') return { label: `${pct} % random`, shape: parsePathShape({ ...haul, lossPct: pct }, where) };
    if (pct >= 100) throw new Error(`${where}: a bursty loss below 100 % (a burst must end)`);
    const burst = { enterPct: (25 * pct) / (100 - pct), exitPct: 25 };
    return { label: `${pct} % bursty`, shape: parsePathShape({ ...haul, burst }, where) };
  });
}
