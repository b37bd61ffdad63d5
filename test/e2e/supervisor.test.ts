// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Supervisor } from '../../scripts/supervisor.mjs';

/** `npm start`'s supervisor (scripts/supervisor.mjs) with a child that dies at once, every time. */
describe('the supervisor of npm start', () => {
  it('backs off a child in a crash loop and says so, instead of spinning', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mm-supervisor-'));
    const entry = path.join(dir, 'crash.mjs');
    writeFileSync(entry, 'process.exit(3);\n');
    const lines: { at: number; line: string }[] = [];
    let onLoop: (() => void) | undefined;
    const looping = new Promise<void>((resolve) => {
      onLoop = resolve;
    });
    let inLoop = false;
    let onRestartAfterLoop: ((at: number) => void) | undefined;
    const restartAfterLoop = new Promise<number>((resolve) => {
      onRestartAfterLoop = resolve;
    });
    const supervisor = new Supervisor({
      initialBackoffMs: 20,
      loopCount: 4,
      loopWindowMs: 60_000,
      loopPauseMs: 1_500,
      log: (line) => {
        lines.push({ at: Date.now(), line });
        if (inLoop && line.includes('started')) onRestartAfterLoop?.(Date.now());
        if (line.includes('crash loop')) {
          inLoop = true;
          onLoop?.();
        }
      },
    });
    const started = Date.now();
    supervisor.add('crasher', { entry, env: {}, output: 'pipe' });
    await looping;
    const loopAt = Date.now();
    // Quick restarts first, doubling: 20, 40, 80 ms…
    const restarts = lines.filter((l) => l.line.includes('exited (3)'));
    expect(restarts.map((l) => Number(/restart in (\d+) ms/.exec(l.line)?.[1]))).toEqual([20, 40, 80, 1500]);
    expect(restarts.at(-1)!.line).toMatch(/crash loop: 4 exits in 60 s/);
    // Then nothing for the pause: the child is not started again before 1.5 s have passed.
    const next = await restartAfterLoop;
    console.log(
      `supervisor: 4 exits in ${loopAt - started} ms, then the crash-loop pause: next start ${next - loopAt} ms later`,
    );
    expect(next - loopAt).toBeGreaterThanOrEqual(1_400);
    await supervisor.stop();
  });
});
