import { measureSplicerCpu } from '../../../packages/sfu/bench/splicer-cpu.ts';
import type { Scenario, ScenarioResult } from '../registry.ts';

/**
 * Issue 6's price tag: CPU of the stable-stream splicer (DirectTransport
 * re-sender in Node) per stream, beside plain pipe forwarding of the same
 * synthetic 1.5 Mbit/s H.264 + Opus feed on the real worker.
 */
export const splicer: Scenario = {
  name: 'splicer',
  description: 'stable-stream splicer CPU per stream vs plain pipe forwarding',
  async run(ctx): Promise<ScenarioResult> {
    const streams = 4;
    const seconds = 10;
    ctx.log(`splicer: ${streams} streams, ${seconds} s each way`);
    const r = await measureSplicerCpu(streams, seconds);
    const total = (x: { nodePct: number; workerPct: number }) => x.nodePct + x.workerPct;
    return {
      tables: [
        {
          title: `stable-stream splicer, % of one core per stream (${r.packetsPerSecondPerStream} packets/s per stream)`,
          columns: ['path', 'node main thread', 'worker', 'total', 'ratio vs pipe'],
          rows: [
            ['plain pipe forwarding (baseline)', r.baseline.nodePct, r.baseline.workerPct, total(r.baseline), 1],
            [
              'stable program (splicer)',
              r.stable.nodePct,
              r.stable.workerPct,
              total(r.stable),
              total(r.baseline) > 0 ? total(r.stable) / total(r.baseline) : null,
            ],
          ],
          notes: ['ratio > 1: what the splicer costs on top of forwarding; the absolute % is what one stream costs'],
        },
      ],
      data: { ...r },
    };
  },
};
