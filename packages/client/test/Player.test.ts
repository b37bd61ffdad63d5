import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignalingRequestError } from '../src/errors.ts';
import { Player, type PlayerStateChange } from '../src/Player.ts';
import type { ReceivedScore } from '../src/ScoreFeed.ts';
import { FakeNode, type FakeNodeOptions, fakeDevice, installMediaStream, score, WebSocket } from './fakeNode.ts';

beforeAll(installMediaStream);

let node: FakeNode | null = null;
let player: Player | null = null;

afterEach(async () => {
  player?.close();
  player = null;
  await node?.stop();
  node = null;
});

async function setup(options: FakeNodeOptions = {}) {
  node = await new FakeNode(options).start();
  const device = fakeDevice();
  player = new Player({
    nodeUrl: node.url,
    stream: 'match',
    token: 'viewer-token-123',
    WebSocket,
    device: device.options,
    retry: { initialDelayMs: 20, maxDelayMs: 50 },
  });
  const states: PlayerStateChange[] = [];
  const scores: ReceivedScore[] = [];
  const media: (MediaStream | null)[] = [];
  player.on('state', (s) => states.push(s));
  player.on('score', (s) => scores.push(s));
  player.on('media', (m) => media.push(m));
  return { node, player, device, states, scores, media };
}

describe('Player', () => {
  it('plays over WebRTC and reports path and state', async () => {
    const { player, device, scores, media } = await setup({ snapshot: score(3) });
    expect(player.path).toBe('none');
    player.start();
    await expect.poll(() => player.mediaStream?.getTracks().length).toBe(2);
    expect(player.path).toBe('webrtc');
    expect(player.state).toBe('connecting');
    await expect.poll(() => device.handlers.length).toBe(1);
    device.setConnectionState('connected');
    expect(player.state).toBe('connected');
    expect(media.at(-1)).toBe(player.mediaStream);
    expect(scores.map((s) => [s.seq, s.snapshot])).toEqual([[3, true]]);
    player.close();
    expect(player.state).toBe('closed');
    expect(player.path).toBe('none');
  });

  it('reconnects after a failure and keeps one score feed across sessions', async () => {
    const { node, player, device, scores } = await setup({ snapshot: score(3) });
    player.start();
    await expect.poll(() => device.channels.length).toBe(1);
    device.setConnectionState('connected');
    device.send(score(4));
    const first = player.session;

    node.sockets[0]!.close(1001, 'restart');
    await expect.poll(() => player.session !== null && player.session !== first).toBe(true);
    await expect.poll(() => device.channels.length).toBe(2);
    device.setConnectionState('connected');
    expect(player.state).toBe('connected');
    // Second join's snapshot (seq 3) is older than what we have: dropped.
    device.send(score(5));
    expect(scores.map((s) => s.seq)).toEqual([3, 4, 5]);
    expect(player.scores.duplicates).toBe(1);
    expect(node.methods().filter((m) => m === 'join')).toHaveLength(2);
  });

  it('gives up at once on an auth error', async () => {
    const { node, player, states } = await setup({
      override: (req) => (req.method === 'join' ? { ok: false, code: 'forbidden' } : undefined),
    });
    player.start();
    await expect.poll(() => player.state).toBe('failed');
    expect(player.reason).toBe('join-forbidden');
    expect(states.at(-1)).toMatchObject({ state: 'failed', path: 'none', reason: 'join-forbidden' });
    expect(states.at(-1)?.error).toBeInstanceOf(SignalingRequestError);
    await new Promise((r) => setTimeout(r, 100));
    expect(node.methods().filter((m) => m === 'join')).toHaveLength(1);
  });

  it('keeps retrying while the stream is not there yet', async () => {
    let live = false;
    const { node, player } = await setup({
      override: (req) => (req.method === 'join' && !live ? { ok: false, code: 'not_found' } : undefined),
    });
    player.start();
    await expect.poll(() => node.methods().filter((m) => m === 'join').length).toBeGreaterThanOrEqual(2);
    // Between two attempts (not while one is in flight): waiting to retry, not failed.
    await expect.poll(() => player.reason).toMatch(/join-not_found; retry in/);
    expect(player.state).toBe('connecting');
    live = true;
    await expect.poll(() => player.mediaStream?.getTracks().length).toBe(2);
  });

  it('rejoins after streamEnded (the node lost the stream; the match goes on)', async () => {
    const { node, player, device } = await setup();
    player.start();
    await expect.poll(() => player.mediaStream?.getTracks().length).toBe(2);
    device.setConnectionState('connected');
    expect(player.state).toBe('connected');
    const reasons: string[] = [];
    player.on('state', (change) => reasons.push(`${change.state}: ${change.reason}`));
    node.notify('streamEnded');
    await expect.poll(() => node.methods().filter((m) => m === 'join').length).toBe(2);
    await expect.poll(() => device.handlers.length).toBe(2);
    device.setConnectionState('connected');
    expect(player.state).toBe('connected');
    // It was playing: the first rejoin goes at once (the backoff is for failures that repeat).
    expect(reasons[0]).toMatch(/^connecting: stream-ended; rejoining/);
  });
});
