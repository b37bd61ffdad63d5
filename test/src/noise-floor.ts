import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { frameLog } from './frame-probe.ts';
import { waitForMoreFrames } from './viewer.ts';

/*
 * Same-run noise floors (issue 11). A loaded machine freezes a playing page
 * and slows a page load by itself, whatever the product does. A test that
 * bounds such a freeze or delay first measures what the machine alone costs
 * right now (the floor), then bounds what the product adds above it. The
 * bound itself is never loosened, and every figure is printed so a run's
 * log shows the floor beside the measurement.
 */

/**
 * The longest freeze a viewer sees while nothing happens: `frames` more
 * presented frames (about two seconds) watched through the frame probe
 * (installFrameProbe must be on the page).
 */
export async function freezeFloor(page: Page, label: string, frames = 60): Promise<number> {
  const from = Date.now();
  await waitForMoreFrames(page, frames);
  const floor = (await frameLog(page, from)).maxGapMs;
  console.log(`${label}: noise floor, max freeze ${floor} ms over ${frames} frames with nothing happening`);
  return floor;
}

/** Bound what the product adds above the floor; prints all three figures. */
export function expectAboveFloor(label: string, measured: number, floor: number, bound: number, detail = ''): void {
  const added = Math.round(measured - floor);
  console.log(
    `${label}: ${Math.round(measured)} ms measured − ${Math.round(floor)} ms floor = ${added} ms (bound ${bound} ms)`,
  );
  expect(added, `${label}: ${measured} ms measured, ${floor} ms same-run floor${detail}`).toBeLessThanOrEqual(bound);
}
