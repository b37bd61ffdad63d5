import { Device, testFakeParameters } from 'mediasoup-client';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignalingClient, signalingUrl } from '../src/SignalingClient.ts';
import { Talkback, type TalkbackTrack } from '../src/Talkback.ts';
import { consumerInfo, FakeNode, fakeDevice, installMediaStream, type Request, WebSocket } from './fakeNode.ts';

beforeAll(installMediaStream);

let node: FakeNode | null = null;
let signaling: SignalingClient | null = null;
afterEach(async () => {
  signaling?.close();
  await node?.stop();
});

/** A talkback consumer as the node answers it: another commentator's voice. */
function voice(commentator: string, lang: string, name?: string) {
  const { id, producerId, rtpParameters } = consumerInfo('audio');
  return { id, producerId, kind: 'audio' as const, rtpParameters, commentator, lang, ...(name ? { name } : {}) };
}

/** A node whose successive consumeTalkback calls answer `rounds` (then nothing new). */
async function setup(rounds: ReturnType<typeof voice>[][]) {
  let call = 0;
  node = await new FakeNode({
    override: (req: Request) =>
      req.method === 'consumeTalkback' ? { ok: true, data: { consumers: rounds[call++] ?? [] } } : undefined,
  }).start();
  signaling = new SignalingClient(signalingUrl(node.url), { WebSocket });
  await signaling.connect();
  const device = new Device(fakeDevice().options);
  await device.load({ routerRtpCapabilities: testFakeParameters.generateRouterRtpCapabilities() });
  const talkback = new Talkback(signaling, device);
  const seen: TalkbackTrack[][] = [];
  talkback.on('voices', (v) => seen.push(v));
  return { node, talkback, seen };
}

const who = (voices: TalkbackTrack[]) => voices.map((v) => `${v.name ?? v.commentator}/${v.lang}`);
/** Resolves once `talkback` has emitted `n` voice lists in all. */
const emitted = (seen: unknown[], n: number) =>
  expect.poll(() => seen.length, { timeout: 2000, interval: 10 }).toBeGreaterThanOrEqual(n);

describe('Talkback', () => {
  it('opens a receive transport without SCTP, consumes the voices there, and resumes each', async () => {
    const { node, talkback, seen } = await setup([[voice('s-sol', 'es', 'Sol'), voice('s-tom', 'en')]]);
    await talkback.start();
    expect(node.requests.find((r) => r.method === 'createTransport')?.data).toEqual({
      direction: 'recv',
      sctp: false,
    });
    const ask = node.requests.find((r) => r.method === 'consumeTalkback')!;
    expect(Object.keys(ask.data ?? {}).sort()).toEqual(['rtpCapabilities', 'transportId']);
    expect(node.methods().filter((m) => m === 'resumeConsumer')).toHaveLength(2);
    expect(who(talkback.voices)).toEqual(['Sol/es', 's-tom/en']);
    expect(talkback.voices.every((v) => v.track.kind === 'audio')).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('consumes a newcomer on talkbackChanged, drops a voice on consumerClosed, and empties on close', async () => {
    const sol = voice('s-sol', 'es');
    const tom = voice('s-tom', 'en');
    const { node, talkback, seen } = await setup([[sol], [tom]]);
    await talkback.start();
    node.notify('talkbackChanged', {
      voices: [sol, tom].map(({ producerId, commentator, lang }) => ({ producerId, commentator, lang })),
    });
    await emitted(seen, 2);
    expect(who(talkback.voices)).toEqual(['s-sol/es', 's-tom/en']);
    node.notify('consumerClosed', { consumerId: sol.id });
    await emitted(seen, 3);
    expect(who(talkback.voices)).toEqual(['s-tom/en']);
    // A consumerClosed for a consumer that is not talkback's changes nothing.
    node.notify('consumerClosed', { consumerId: 'not-a-voice' });
    talkback.close();
    expect(seen.at(-1)).toEqual([]);
    expect(seen).toHaveLength(4);
  });
});
