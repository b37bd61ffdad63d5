import type { BilliardsScore } from '@matchmesh/protocol';

/*
 * A plausible 9-ball match, one shot per step, for the test pattern (and for
 * tests that need a steady score stream). Rules simplified to what an
 * overlay shows:
 *   - racks alternate breaks; `points` = balls the player potted this rack;
 *   - a shot pots the lowest ball (~62%), misses (~28%) or fouls (~7%),
 *     or pots the 9 on a combination (~3%) which wins the rack at once;
 *   - potting the 9 wins the rack (`frames` + 1), first to `raceTo` racks
 *     wins the match, and a new match starts.
 * Deterministic for a given seed so tests can assert exact sequences.
 */

export interface ScoreGeneratorOptions {
  seed?: number;
  raceTo?: number;
  players?: [string, string];
}

/** mulberry32: tiny, fast, good enough for a fake match. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ScoreGenerator {
  private readonly random: () => number;
  private readonly names: [string, string];
  private readonly raceTo: number;
  private frames: [number, number] = [0, 0];
  private points: [number, number] = [0, 0];
  private frame = 1;
  private atTable: 0 | 1 = 0;
  private breaker: 0 | 1 = 0;
  /** Lowest ball on the table, 1..9; 0 = the rack has not been broken yet. */
  private ballOn = 0;
  private matchOver = false;

  constructor(opts: ScoreGeneratorOptions = {}) {
    this.random = prng(opts.seed ?? 9);
    this.names = opts.players ?? ['M. Rossi', 'K. Tanaka'];
    this.raceTo = opts.raceTo ?? 9;
  }

  /** The score as it stands, without advancing. */
  current(event?: string): BilliardsScore {
    return {
      players: [
        { name: this.names[0], frames: this.frames[0], points: this.points[0] },
        { name: this.names[1], frames: this.frames[1], points: this.points[1] },
      ],
      raceTo: this.raceTo,
      frame: this.frame,
      atTable: this.atTable,
      ...(event ? { event } : {}),
    };
  }

  /** Play one shot and return the new score. */
  next(): BilliardsScore {
    if (this.matchOver) return this.newMatch();
    const player = this.atTable;
    const name = this.names[player];
    if (this.ballOn === 0) {
      this.ballOn = 1;
      return this.current(`Rack ${this.frame}: ${name} breaks`);
    }
    const r = this.random();
    if (r < 0.03) return this.winRack(player, `Combination on the 9: ${name}`);
    if (r < 0.65) {
      const ball = this.ballOn;
      if (ball === 9) return this.winRack(player, `${name} pots the 9`);
      this.points[player]++;
      this.ballOn++;
      return this.current(`Pot: ${ball}-ball (${name})`);
    }
    this.atTable = player === 0 ? 1 : 0;
    if (r < 0.93) return this.current(`Miss: ${name}`);
    return this.current(`Foul: ${name}, ball in hand`);
  }

  private winRack(player: 0 | 1, how: string): BilliardsScore {
    this.points[player]++;
    this.frames[player]++;
    const name = this.names[player];
    if (this.frames[player] >= this.raceTo) {
      this.matchOver = true;
      return this.current(`${how}. Match to ${name} ${this.frames[player]}-${this.frames[player === 0 ? 1 : 0]}`);
    }
    const score = this.current(`${how}. Rack ${this.frame} to ${name}`);
    this.frame++;
    this.points = [0, 0];
    this.ballOn = 0;
    this.breaker = this.breaker === 0 ? 1 : 0;
    this.atTable = this.breaker;
    return score;
  }

  private newMatch(): BilliardsScore {
    this.frames = [0, 0];
    this.points = [0, 0];
    this.frame = 1;
    this.ballOn = 0;
    this.matchOver = false;
    this.breaker = this.breaker === 0 ? 1 : 0;
    this.atTable = this.breaker;
    return this.current(`New match, race to ${this.raceTo}`);
  }
}
