// e2e lane: shared — no timing bound here, so it runs beside another shared file (scripts/test.mjs).
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosConfig } from '../src/chaos-config.ts';
import { rng } from '../src/fuzz/rng.ts';
import { mutateOffer } from '../src/fuzz/sdp.ts';
import { mutateMessage } from '../src/fuzz/signaling.ts';
import { type LiveMatch, startLiveMatch } from '../src/match.ts';
import { type TestNode, token } from '../src/node.ts';
import { TestSignaling } from '../src/signaling.ts';
import { framesDecoded, waitForMoreFrames } from '../src/viewer.ts';

/**
 * Fuzzing the edge: generated WHIP/WHEP offers and signaling messages thrown
 * at a node while a viewer watches. No 5xx, no crash, and the viewer keeps
 * decoding. `npm run test:chaos` runs 10,000 of each (MM_FUZZ_CASES); the
 * default `npm test` run takes a shorter slice.
 */
const { MM_FUZZ_CASES: CASES, MM_FUZZ_SEED: SEED } = chaosConfig();

describe('fuzzed input at the edge', () => {
  const stream = 'fuzz';
  let match: LiveMatch;
  let node: TestNode;
  let viewer: Page;

  beforeAll(async () => {
    match = await startLiveMatch(stream);
    ({ node, viewer } = match);
  });

  afterAll(async () => {
    await match?.stop();
  });

  it(`answers ${CASES} mutated WHIP and WHEP offers without a 5xx`, async () => {
    const r = rng(SEED);
    const publisher = await token('publisher', 'fuzz-target');
    const viewerToken = await token('viewer', stream);
    const statuses = new Map<number, number>();
    const before = await framesDecoded(viewer);
    for (let i = 0; i < CASES; i++) {
      const whep = i % 2 === 1;
      const url = whep ? `${node.url}/whep/${stream}` : `${node.url}/whip/fuzz-target`;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${whep ? viewerToken : publisher}` },
        body: new Uint8Array(mutateOffer(r)),
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      expect(res.status, `case ${i} (seed ${SEED})`).toBeLessThan(500);
      if (res.status === 201) {
        // A mutation that is still a valid offer made a real session: end it.
        const location = res.headers.get('location')!;
        await fetch(new URL(location, node.url), {
          method: 'DELETE',
          headers: { Authorization: `Bearer ${whep ? viewerToken : publisher}` },
        });
      } else {
        await res.arrayBuffer();
      }
    }
    console.log(`SDP fuzz: ${CASES} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    const after = await waitForMoreFrames(viewer, 10);
    expect(after).toBeGreaterThan(before);
  });

  it(`answers ${CASES} mutated signaling messages with typed replies and keeps sockets open`, async () => {
    const r = rng(SEED + 1);
    const sockets = await Promise.all(Array.from({ length: 4 }, () => TestSignaling.connect(node.url)));
    const replies = new Map<string, number>();
    let closed = 0;
    for (const s of sockets) s.ws.on('close', () => closed++);
    for (const s of sockets) {
      s.ws.on('message', (raw) => {
        const msg = JSON.parse(raw.toString()) as { ok?: boolean; error?: { code: string }; notification?: string };
        const key = msg.ok ? 'ok' : (msg.error?.code ?? msg.notification ?? 'other');
        replies.set(key, (replies.get(key) ?? 0) + 1);
      });
    }
    const before = await framesDecoded(viewer);
    for (let i = 0; i < CASES; i++) sockets[i % sockets.length]!.ws.send(mutateMessage(r));
    // Every message gets exactly one reply; wait for all of them (a ping round trip per socket closes the batch).
    for (const s of sockets) await s.request('fly', {}, 30_000);
    const total = [...replies.values()].reduce((a, b) => a + b, 0);
    console.log(`signaling fuzz: ${CASES} messages, replies ${JSON.stringify(Object.fromEntries(replies))}`);
    expect(closed).toBe(0);
    expect(replies.get('internal') ?? 0).toBe(0);
    expect(total).toBeGreaterThanOrEqual(CASES);
    for (const s of sockets) s.close();
    const after = await waitForMoreFrames(viewer, 10);
    expect(after).toBeGreaterThan(before);
  });
});
