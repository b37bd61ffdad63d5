import { BilliardsScore } from '@matchmesh/protocol';
import { describe, expect, it } from 'vitest';
import { ScoreGenerator } from '../src/score-generator.ts';

describe('ScoreGenerator (9-ball)', () => {
  it('is deterministic for a seed', () => {
    const a = new ScoreGenerator({ seed: 42 });
    const b = new ScoreGenerator({ seed: 42 });
    const c = new ScoreGenerator({ seed: 43 });
    const run = (g: ScoreGenerator) => Array.from({ length: 200 }, () => g.next());
    const ra = run(a);
    expect(ra).toEqual(run(b));
    expect(ra).not.toEqual(run(c));
  });

  it('plays valid, consistent matches', () => {
    const g = new ScoreGenerator({ seed: 7, raceTo: 5, players: ['Lee', 'Ortiz'] });
    let prev = g.current();
    let matches = 0;
    let racks = 0;
    for (let i = 0; i < 6000; i++) {
      const s = g.next();
      // Always what the protocol accepts.
      expect(BilliardsScore.safeParse(s).success).toBe(true);
      expect(s.players.map((p) => p.name)).toEqual(['Lee', 'Ortiz']);
      expect(s.raceTo).toBe(5);
      const total = (x: typeof s) => x.players[0].frames + x.players[1].frames;
      if (s.event?.startsWith('New match')) {
        matches++;
        expect(total(s)).toBe(0);
        expect(s.frame).toBe(1);
      } else {
        // Within a match: racks never un-win, at most one rack per step, frame tracks racks.
        expect(total(s) - total(prev)).toBeGreaterThanOrEqual(0);
        expect(total(s) - total(prev)).toBeLessThanOrEqual(1);
        if (total(s) > total(prev)) {
          racks++;
          expect(s.event).toMatch(/(Rack \d+ to|Match to) (Lee|Ortiz)/);
        }
        expect(s.frame).toBeGreaterThanOrEqual(prev.frame);
        for (const p of s.players) {
          expect(p.frames).toBeLessThanOrEqual(5);
          expect(p.points).toBeLessThanOrEqual(9);
        }
      }
      if (s.event?.includes('Match to')) {
        expect(Math.max(s.players[0].frames, s.players[1].frames)).toBe(5);
      }
      if (s.event?.includes('breaks')) expect(s.players[0].points + s.players[1].points).toBe(0);
      prev = s;
    }
    // Plenty of racks and several whole matches in 6000 shots.
    expect(matches).toBeGreaterThan(5);
    expect(racks).toBeGreaterThan(50);
  });

  it('has a realistic mix of events', () => {
    const g = new ScoreGenerator({ seed: 1 });
    const kinds = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const kind = (g.next().event ?? '').split(/[: ]/)[0]!;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    for (const k of ['Pot', 'Miss', 'Foul', 'Rack', 'Combination'])
      expect(kinds.get(k) ?? 0, k).toBeGreaterThan(0);
    expect(kinds.get('Pot')!).toBeGreaterThan(kinds.get('Miss')!);
  });
});
