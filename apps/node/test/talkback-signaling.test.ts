import { EventEmitter } from 'node:events';
import { type SignalingNotification, signToken } from '@matchmesh/protocol';
import type { Seat, StreamRouter } from '@matchmesh/sfu';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Peer, type PeerContext, SignalingFailure } from '../src/signaling/Peer.ts';

/**
 * Who may hear the booth's voices (talkback): the signaling permission on a Peer, over a fake stream
 * router (no mediasoup: the objects answer what Peer and PeerMedia ask of them). The e2e
 * `commentary-talkback.test.ts` hears the voices with real parts.
 */
const SECRET = 'talkback-signaling-test-secret-0123456789';
const STREAM = 'match';
const OPUS = { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [] };

let nextId = 0;
const id = (prefix: string) => `${prefix}-${++nextId}`;

/** A producer or consumer as PeerMedia reads it: id, appData, closed, and an observer that can say close. */
function mediaObject(fields: Record<string, unknown>) {
  const observer = new EventEmitter();
  const object = Object.assign(
    {
      closed: false,
      observer,
      close() {
        if (object.closed) return;
        object.closed = true;
        observer.emit('close');
        // As in mediasoup: a producer that closes closes its consumers.
        for (const c of consumersOf.get(object.id as string) ?? []) c.close();
      },
      pause: async () => {},
      resume: async () => {},
    },
    fields,
  );
  return object;
}
const consumersOf = new Map<string, ReturnType<typeof mediaObject>[]>();

/** The stream's source router with its booth: voices in, `voiceschanged` out. */
function fakeStream() {
  const emitter = new EventEmitter();
  const voices: ReturnType<typeof mediaObject>[] = [];
  const source = Object.assign(emitter, {
    stream: STREAM,
    closed: false,
    latestScore: null,
    rtpCapabilities: { codecs: [] },
    router: { id: 'router-1', canConsume: () => true },
    scoresSince: () => [],
    languages: () => [],
    commentaryDelays: () => ({}),
    voices: () => voices.filter((v) => !v.closed),
    async addVoice(voice: ReturnType<typeof mediaObject>) {
      voices.push(voice);
      voice.observer.once('close', () => emitter.emit('voiceschanged'));
      emitter.emit('voiceschanged');
    },
    async createWebRtcTransport(request: { appData?: Record<string, unknown> }) {
      return mediaObject({
        id: id('transport'),
        appData: request.appData ?? {},
        iceParameters: {},
        iceCandidates: [],
        dtlsParameters: { fingerprints: [] },
        consume: async (o: { producerId: string; appData: Record<string, unknown> }) => {
          const consumer = mediaObject({
            id: id('consumer'),
            producerId: o.producerId,
            kind: 'audio',
            appData: o.appData,
            rtpParameters: OPUS,
          });
          consumersOf.set(o.producerId, [...(consumersOf.get(o.producerId) ?? []), consumer]);
          return consumer;
        },
        produce: async (o: { kind: string; appData: Record<string, unknown> }) =>
          mediaObject({ id: id('producer'), kind: o.kind, appData: o.appData }),
      });
    },
  });
  Object.defineProperty(source, 'source', { get: () => source });
  return source;
}

type FakeStream = ReturnType<typeof fakeStream>;

function peerOn(stream: FakeStream): { peer: Peer; notes: SignalingNotification[] } {
  const log = pino({ level: 'silent' });
  const ctx: PeerContext = {
    tokenSecret: SECRET,
    nodeId: 'node-1',
    region: 'eu',
    log,
    admissionBlocked: () => undefined,
    resolveStream: async () => stream as unknown as StreamRouter,
    hasRoom: () => true,
    seat: async () => ({ outlet: stream, worker: 0, release() {} }) as unknown as Seat,
  };
  const notes: SignalingNotification[] = [];
  return { peer: new Peer(ctx, (n) => notes.push(n)), notes };
}

/** A commentator on air: joined with a session credential, a voice produced, a receive transport for talkback. */
async function commentator(stream: FakeStream, lang: string, session: string, name?: string) {
  const { peer, notes } = peerOn(stream);
  const token = await signToken(SECRET, {
    role: 'commentator',
    stream: STREAM,
    lang,
    sub: session,
    ses: true,
    ...(name ? { name } : {}),
  });
  await peer.join({ stream: STREAM, token, role: 'commentator' });
  const send = await peer.createTransport({ direction: 'send', sctp: false, forceTcp: false });
  const { id: voice } = await peer.produce({ transportId: send.id, kind: 'audio', rtpParameters: OPUS as never });
  const recv = await peer.createTransport({ direction: 'recv', sctp: false, forceTcp: false });
  const talkback = () => peer.consumeTalkback({ transportId: recv.id, rtpCapabilities: { codecs: [] } as never });
  return { peer, notes, voice, talkback };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof SignalingFailure ? err.code : String(err);
  }
}

describe('talkback signaling', () => {
  it("refuses a viewer (forbidden) and a peer that has not joined (not_joined): viewers never hear the booth's voices", async () => {
    const stream = fakeStream();
    await commentator(stream, 'en', 's-alice');
    const { peer } = peerOn(stream);
    const request = { transportId: 'x', rtpCapabilities: { codecs: [] } as never };
    expect(await refusal(peer.consumeTalkback(request))).toBe('not_joined');
    await peer.join({
      stream: STREAM,
      token: await signToken(SECRET, { role: 'viewer', stream: STREAM }),
      role: 'viewer',
    });
    expect(await refusal(peer.consumeTalkback(request))).toBe('forbidden');
    // A commentator token used to join as a viewer watches only: no talkback either.
    const { peer: watching } = peerOn(stream);
    const ct = await signToken(SECRET, { role: 'commentator', stream: STREAM, lang: 'en' });
    await watching.join({ stream: STREAM, token: ct, role: 'viewer' });
    expect(await refusal(watching.consumeTalkback(request))).toBe('forbidden');
  });

  it('gives a commentator every other voice of the booth (any language, named), never its own, and tells it of a newcomer', async () => {
    const stream = fakeStream();
    const alice = await commentator(stream, 'en', 's-alice', 'Alice');
    const bob = await commentator(stream, 'es', 's-bob');
    const heardByAlice = await alice.talkback();
    expect(heardByAlice.consumers.map((c) => [c.producerId, c.commentator, c.name, c.lang])).toEqual([
      [bob.voice, 's-bob', undefined, 'es'],
    ]);
    const heardByBob = await bob.talkback();
    expect(heardByBob.consumers.map((c) => [c.producerId, c.commentator, c.name, c.lang])).toEqual([
      [alice.voice, 's-alice', 'Alice', 'en'],
    ]);
    // Asked again, nothing new: each voice is consumed once.
    expect((await alice.talkback()).consumers).toEqual([]);

    const carol = await commentator(stream, 'en', 's-carol');
    const told = (notes: SignalingNotification[]) =>
      notes
        .filter((n) => n.notification === 'talkbackChanged')
        .at(-1)
        ?.data.voices.map((v) => v.commentator);
    expect(told(alice.notes)).toEqual(['s-bob', 's-carol']);
    expect(told(bob.notes)).toEqual(['s-alice', 's-carol']);
    expect((await alice.talkback()).consumers.map((c) => c.producerId)).toEqual([carol.voice]);
    // Carol has not asked for talkback: she is told nothing until she does.
    expect(carol.notes.filter((n) => n.notification === 'talkbackChanged')).toEqual([]);
    expect((await carol.talkback()).consumers.map((c) => c.commentator).sort()).toEqual(['s-alice', 's-bob']);

    // Bob leaves: the others are told, and his consumer closes (consumerClosed).
    bob.peer.close();
    for (const p of stream.voices()) if (p.id === bob.voice) p.close();
    expect(told(alice.notes)).toEqual(['s-carol']);
    expect(alice.notes.some((n) => n.notification === 'consumerClosed')).toBe(true);
  });
});
