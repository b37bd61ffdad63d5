import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type LadderCpu, measureLadderCpu } from '../../../apps/origin/bench/ladder-cpu.ts';
import { DEFAULT_LADDER } from '../../../apps/origin/src/ladder.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';

/**
 * Issue 14's origin figure: what encoding the default simulcast ladder once
 * costs (the real ffmpeg with the agent's arguments, CPU from /proc), whole
 * and per layer (the ladder's CPU minus the ladder's without that layer), for
 * the 30 fps test pattern and for a 1080p60 H.264 source (decoded once, the
 * top layers kept at 60 fps).
 */
export const origin: Scenario = {
  name: 'origin',
  description: 'origin encode CPU of the default simulcast ladder, whole and per layer',
  async run(ctx): Promise<ScenarioResult> {
    const seconds = 10;
    const dir = mkdtempSync(path.join(tmpdir(), 'mm-bench-origin-'));
    try {
      const file = path.join(dir, 'src1080p60.mp4');
      const gen = spawn(
        'ffmpeg',
        // biome-ignore format: ffmpeg flag/value pairs read best one pair per line
        ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y',
          '-f', 'lavfi', '-i', 'testsrc2=s=1920x1080:r=60,noise=alls=8:allf=t', '-t', '8',
          '-c:v', 'libx264', '-preset', 'ultrafast', '-b:v', '12M', '-g', '60', file],
        { stdio: 'inherit' },
      );
      if ((await once(gen, 'exit'))[0] !== 0) throw new Error('could not make the 1080p60 source');
      const sources: Array<[string, string]> = [
        ['test pattern (30 fps)', 'testpattern'],
        ['1080p60 H.264 file (noise)', file],
      ];
      const results: Array<[string, LadderCpu]> = [];
      for (const [label, source] of sources) {
        ctx.log(`origin: ${label}, ${DEFAULT_LADDER}, ${seconds} s per run, whole ladder then without each layer`);
        results.push([label, await measureLadderCpu(source, DEFAULT_LADDER, seconds)]);
      }
      return {
        tables: [
          {
            title: `origin encode CPU, default ladder ${DEFAULT_LADDER}, x264 ultrafast, % of one core`,
            columns: ['source', 'layer', 'delivered fps', 'delivered kbit/s', 'CPU % (layer: marginal)'],
            rows: results.flatMap(([label, r]) => [
              [label, 'whole ladder', null, null, r.full.cpuPercent],
              ...r.full.layers.map((l, i) => [
                label,
                r.marginal[i]?.layer ?? l.layer,
                l.fps,
                l.kbps,
                r.marginal[i]?.cpuPercent ?? null,
              ]),
            ]),
            notes: [
              "a layer's CPU is the whole ladder's minus the ladder's without it (ffmpeg 5.1 encodes in one thread)",
              "the test pattern is drawn at the top layer's size: the top layer's figure includes drawing at 1080p",
            ],
          },
        ],
        data: Object.fromEntries(results),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
