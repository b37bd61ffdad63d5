import { testFakeParameters } from 'mediasoup-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignalingRequestError } from '../src/errors.ts';
import type { ReceivedScore } from '../src/ScoreFeed.ts';
import { type SessionStateChange, WebRtcSession, type WebRtcSessionOptions } from '../src/WebRtcSession.ts';
import {
  consumerInfo,
  FakeNode,
  type FakeNodeOptions,
  fakeDevice,
  installMediaStream,
  score,
  WebSocket,
} from './fakeNode.ts';

beforeAll(installMediaStream);

let node: FakeNode | null = null;
let session: WebRtcSession | null = null;

afterEach(async () => {
  session?.close();
  session = null;
  await node?.stop();
  node = null;
});

async function setup(options: FakeNodeOptions = {}, session_: Partial<WebRtcSessionOptions> = {}) {
  node = await new FakeNode(options).start();
  const device = fakeDevice();
  session = new WebRtcSession({
    nodeUrl: node.url,
    stream: 'match',
    token: 'viewer-token-123',
    WebSocket,
    device: device.options,
    requestTimeoutMs: 2000,
    ...session_,
  });
  const states: SessionStateChange[] = [];
  const scores: ReceivedScore[] = [];
  session.on('state', (s) => states.push(s));
  session.on('score', (s) => scores.push(s));
  return { node, session, device, states, scores };
}

describe('WebRtcSession', () => {
  it('joins, consumes, resumes after the local consumer exists, subscribes to scores', async () => {
    const { node, session, device, states, scores } = await setup({ snapshot: score(5) });
    await session.start();

    const methods = node.methods();
    // Scores are subscribed first to keep the join→DataConsumer window short.
    expect(methods.slice(0, 3)).toEqual(['join', 'createTransport', 'consumeData']);
    expect(methods).toContain('connectTransport');
    expect(methods.filter((m) => m === 'resumeConsumer')).toHaveLength(2);
    expect(methods.indexOf('consume')).toBeLessThan(methods.indexOf('resumeConsumer'));
    expect(node.requests[0]!.data).toEqual({ stream: 'match', token: 'viewer-token-123', role: 'viewer' });
    expect(node.requests[1]!.data).toEqual({ direction: 'recv', sctp: true, forceTcp: false });

    const consumed = (node.requests.find((r) => r.method === 'consume')!.data as { rtpCapabilities: object })
      .rtpCapabilities;
    expect(consumed).toHaveProperty('codecs');
    expect(
      session
        .mediaStream!.getTracks()
        .map((t) => t.kind)
        .sort(),
    ).toEqual(['audio', 'video']);
    expect(session.nodeId).toBe('node-eu-1');
    expect(session.region).toBe('eu');

    // The snapshot is the first score, flagged.
    expect(scores.map((s) => [s.seq, s.snapshot])).toEqual([[5, true]]);

    expect(session.state).toBe('connecting');
    device.setConnectionState('connected');
    expect(states.at(-1)).toEqual({ state: 'connected', reason: 'playing' });

    device.send(score(5)); // live copy of the snapshot: duplicate
    device.send(score(6));
    device.send(score(8)); // 7 missed
    device.send('{"not":"a score"}');
    device.send(score(1, 1, 'other-stream'));
    expect(scores.map((s) => [s.seq, s.snapshot])).toEqual([
      [5, true],
      [6, false],
      [8, false],
    ]);
    const stats = await session.stats();
    expect(stats).toMatchObject({
      state: 'connected',
      iceState: 'connected',
      scoresReceived: 3,
      lastSeq: 8,
      gaps: 1,
      missedAtJoin: 0,
      duplicates: 1,
      invalidScores: 1,
    });
  });

  it('with the router capabilities known, sets up in the join: no createTransport, consumeData or consume', async () => {
    const caps = testFakeParameters.generateRouterRtpCapabilities();
    const { node, session, device, scores } = await setup(
      { snapshot: score(5), oneRoundTrip: true },
      { routerRtpCapabilities: caps },
    );
    await session.start();

    const methods = node.methods();
    expect(methods[0]).toBe('join');
    expect(methods).not.toContain('createTransport');
    expect(methods).not.toContain('consumeData');
    expect(methods).not.toContain('consume');
    expect(methods).toContain('connectTransport');
    // The node made them paused: resumed once the local side exists (while ICE and DTLS run).
    expect(methods.filter((m) => m === 'resumeConsumer')).toHaveLength(2);
    const join = node.requests[0]!.data as { recv?: { rtpCapabilities: { codecs: unknown[] }; forceTcp: boolean } };
    expect(join.recv?.forceTcp).toBe(false);
    expect(join.recv?.rtpCapabilities.codecs.length).toBeGreaterThan(0);
    expect(session.oneRoundTrip).toBe(true);
    expect(
      session
        .mediaStream!.getTracks()
        .map((t) => t.kind)
        .sort(),
    ).toEqual(['audio', 'video']);
    // The join's score consumer is live: updates after the snapshot arrive on it.
    device.send(score(6));
    expect(scores.map((s) => s.seq)).toEqual([5, 6]);
    device.setConnectionState('connected');
    expect(session.state).toBe('connected');
    expect(session.routerRtpCapabilities).toEqual(caps);
  });

  it('goes step by step when the node answers the join without recv (an older node, foreign capabilities)', async () => {
    const caps = testFakeParameters.generateRouterRtpCapabilities();
    const { node, session } = await setup({ oneRoundTrip: false }, { routerRtpCapabilities: caps });
    await session.start();
    expect(node.methods().slice(0, 3)).toEqual(['join', 'createTransport', 'consumeData']);
    expect(node.methods()).toContain('consume');
    expect(node.requests[0]!.data).toHaveProperty('recv');
    expect(session.oneRoundTrip).toBe(false);
    expect(session.mediaStream!.getTracks()).toHaveLength(2);
  });

  it('handles consumerClosed, newProducers and streamEnded', async () => {
    const commentary = consumerInfo('audio', 'commentary');
    const first = [consumerInfo('audio'), consumerInfo('video')];
    const { node, session } = await setup({ consumeRounds: [first, [commentary]] });
    const trackEvents: number[] = [];
    session.on('tracks', (stream) => trackEvents.push(stream.getTracks().length));
    await session.start();
    expect(trackEvents).toEqual([2]);

    node.notify('consumerClosed', { consumerId: first[0]!.id });
    await expect.poll(() => session.mediaStream!.getAudioTracks().length).toBe(0);

    node.notify('newProducers');
    await expect.poll(() => session.consumers.length).toBe(2);
    expect(session.consumers.map((c) => c.source).sort()).toEqual(['commentary', 'program']);
    await expect.poll(() => node.methods().filter((m) => m === 'resumeConsumer').length).toBe(3);
    // The score channel is already open: newProducers does not subscribe twice.
    expect(node.methods().filter((m) => m === 'consumeData')).toHaveLength(1);

    node.notify('streamEnded');
    await expect.poll(() => session.state).toBe('failed');
    expect(session.reason).toBe('stream-ended');
  });

  it('waits for scores when the node has none yet, and subscribes on newProducers', async () => {
    let scoresExist = false;
    const { node, session, device, scores } = await setup({
      snapshot: null,
      override: (req) =>
        req.method === 'consumeData' && !scoresExist
          ? { ok: false, code: 'not_found', message: 'no scores' }
          : undefined,
    });
    await session.start();
    expect(session.state).toBe('connecting');
    expect(device.channels).toHaveLength(0);
    scoresExist = true;
    node.notify('newProducers');
    await expect.poll(() => device.channels.length).toBe(1);
    device.send(score(1));
    expect(scores.map((s) => s.seq)).toEqual([1]);
  });

  it('drops a consumer the server closed before it could be resumed', async () => {
    const audio = consumerInfo('audio');
    const { session } = await setup({
      consumeRounds: [[audio, consumerInfo('video')]],
      override: (req) =>
        req.method === 'resumeConsumer' && req.data?.consumerId === audio.id
          ? { ok: false, code: 'not_found', message: 'consumer closed' }
          : undefined,
    });
    await session.start();
    expect(session.state).toBe('connecting');
    expect(session.consumers.map((c) => c.kind)).toEqual(['video']);
    expect(session.mediaStream!.getTracks().map((t) => t.kind)).toEqual(['video']);
  });

  it('fails with a typed reason when join is refused', async () => {
    const { session, states } = await setup({
      override: (req) =>
        req.method === 'join' ? { ok: false, code: 'unauthorized', message: 'bad token' } : undefined,
    });
    const error = await session.start().catch((e) => e);
    expect(error).toBeInstanceOf(SignalingRequestError);
    expect(session.state).toBe('failed');
    expect(states.at(-1)).toMatchObject({ state: 'failed', reason: 'join-unauthorized' });
    expect(session.signaling.state).toBe('closed');
  });

  it('fails on ICE failure and when the signaling socket drops', async () => {
    const a = await setup();
    await a.session.start();
    a.device.setConnectionState('failed');
    expect(a.session.state).toBe('failed');
    expect(a.session.reason).toBe('ice-failed');
    await a.node.stop();

    const b = await setup();
    session = b.session;
    await b.session.start();
    b.node.sockets[0]!.close(1001, 'node going away');
    await expect.poll(() => b.session.state).toBe('failed');
    expect(b.session.reason).toBe('signaling-closed: node going away');
  });

  it('times out ICE that never connects', async () => {
    node = await new FakeNode().start();
    const device = fakeDevice();
    session = new WebRtcSession({
      nodeUrl: node.url,
      stream: 'match',
      token: 'viewer-token-123',
      WebSocket,
      device: device.options,
      iceTimeoutMs: 100,
    });
    await session.start();
    await expect.poll(() => session!.state).toBe('failed');
    expect(session.reason).toBe('ice-timeout');
  });
});
