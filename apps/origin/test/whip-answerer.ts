import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseScoreMessage, SCORE_CHANNEL_LABEL, type ScoreUpdate } from '@matchmesh/protocol';
import { type RTCDataChannel, RTCPeerConnection, type RtpPacket } from 'werift';
import { audioCodec, headerExtensions, RTP_STREAM_ID_URI, videoCodec } from '../src/codecs.ts';
import { Depacketizer, parseSps, type SpsInfo } from './h264.ts';

/*
 * TEST STAND-IN for the matchmesh ingest's WHIP endpoint: werift answering,
 * ICE-lite like mediasoup, a pre-negotiated score channel on SCTP stream 0.
 * Unit tests only: the real ingest is apps/node on mediasoup.
 */

export interface AnswererSession {
  id: number;
  pc: RTCPeerConnection;
  channel: RTCDataChannel;
  offer: string;
  answer: string;
  rtp: { h264: number; opus: number; other: number };
  ssrcs: Set<number>;
  scores: ScoreUpdate[];
  deleted: boolean;
  /** profile_idc, constraint flags, level_idc of the first in-band SPS (hex, e.g. '42c01f'). */
  spsProfile: string | undefined;
  /** Largest forward jump of the video RTP sequence number (1 = no gap ever). */
  maxVideoSeqJump: number;
  /** Largest forward jump of the video RTP timestamp (3000 = one frame at 30 fps). */
  maxVideoTsJump: number;
  /** Every video RTP stream by SSRC, as it arrived on the transport (simulcast layers each have one). */
  videoStreams: Map<number, VideoStreamTap>;
}

/** One video RTP stream as the transport delivered it, before any werift routing. */
export interface VideoStreamTap {
  packets: number;
  /** The rid extension's value in this stream's packets (undefined if absent). */
  rid: string | undefined;
  /** Packets that carried the rid extension. */
  ridPackets: number;
  mid: string | undefined;
  sps: SpsInfo | undefined;
  /** Largest forward jump of the sequence number (1 = no gap). */
  maxSeqJump: number;
  /** Largest forward jump of the timestamp. */
  maxTsJump: number;
  /** Timestamps of the key frames (IDR) seen. */
  keyframeTimestamps: number[];
  /** NAL unit types of each key frame, in order (the last 8 key frames, by timestamp). */
  keyframeNals: Map<number, number[]>;
  /** NAL types of the frame now arriving (its timestamp): moved to keyframeNals if it holds an IDR. */
  current: { ts: number; nals: number[] } | undefined;
  last: { seq: number; ts: number } | undefined;
  depacketizer: Depacketizer;
}

/** The id an offer's m-sections give a header extension URI (a=extmap), if any. */
function extmapId(sdp: string, uri: string): number | undefined {
  const line = sdp.split(/\r?\n/).find((l) => l.startsWith('a=extmap:') && l.trim().endsWith(` ${uri}`));
  return line ? Number.parseInt(line.slice('a=extmap:'.length), 10) : undefined;
}

function tapVideo(session: AnswererSession, packet: RtpPacket, ids: { rid?: number; mid?: number }): void {
  const { ssrc, sequenceNumber: seq, timestamp: ts } = packet.header;
  let tap = session.videoStreams.get(ssrc);
  if (!tap) {
    tap = {
      packets: 0,
      rid: undefined,
      ridPackets: 0,
      mid: undefined,
      sps: undefined,
      maxSeqJump: 0,
      maxTsJump: 0,
      keyframeTimestamps: [],
      keyframeNals: new Map(),
      current: undefined,
      last: undefined,
      depacketizer: new Depacketizer(),
    };
    session.videoStreams.set(ssrc, tap);
  }
  tap.packets++;
  for (const ext of packet.header.extensions) {
    if (ext.id === ids.rid) {
      tap.rid = ext.payload.toString('utf8');
      tap.ridPackets++;
    }
    if (ext.id === ids.mid) tap.mid = ext.payload.toString('utf8');
  }
  for (const nal of tap.depacketizer.push(packet.payload)) {
    const type = nal[0]! & 0x1f;
    if (tap.current?.ts !== ts) tap.current = { ts, nals: [] };
    tap.current.nals.push(type);
    if (type === 5 && !tap.keyframeNals.has(ts)) {
      tap.keyframeNals.set(ts, tap.current.nals);
      if (tap.keyframeNals.size > 8) tap.keyframeNals.delete(tap.keyframeNals.keys().next().value!);
    }
    if (type === 7) tap.sps ??= parseSps(nal);
    if (type === 5 && tap.keyframeTimestamps.at(-1) !== ts) tap.keyframeTimestamps.push(ts);
  }
  if (tap.last) {
    const dSeq = (seq - tap.last.seq + 0x10000) % 0x10000;
    const dTs = (ts - tap.last.ts + 2 ** 32) % 2 ** 32;
    if (dSeq > 0 && dSeq < 0x8000) {
      tap.maxSeqJump = Math.max(tap.maxSeqJump, dSeq);
      if (dTs < 2 ** 31) tap.maxTsJump = Math.max(tap.maxTsJump, dTs);
    }
  }
  if (!tap.last || (seq - tap.last.seq + 0x10000) % 0x10000 < 0x8000) tap.last = { seq, ts };
}

export interface RecordedPost {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface AnswererEvents {
  post: [RecordedPost];
  session: [AnswererSession];
  score: [ScoreUpdate, AnswererSession];
  rtp: [AnswererSession];
  delete: [AnswererSession];
}

/** SPS profile bytes from a single-NAL or STAP-A H.264 payload (RFC 6184). */
function spsProfile(payload: Buffer): string | undefined {
  const type = payload[0]! & 0x1f;
  if (type === 7) return payload.subarray(1, 4).toString('hex');
  if (type === 24) {
    // STAP-A: [hdr][size16][nal]...
    for (let off = 1; off + 2 < payload.length; ) {
      const size = payload.readUInt16BE(off);
      const nal = payload.subarray(off + 2, off + 2 + size);
      if ((nal[0]! & 0x1f) === 7) return nal.subarray(1, 4).toString('hex');
      off += 2 + size;
    }
  }
  return undefined;
}

/** Make a session go silent without closing it: the ingest process hung or the network path died. */
export function blackhole(session: AnswererSession): void {
  for (const ice of session.pc.iceTransports) {
    (ice.connection as { send: (data: Buffer) => Promise<void> }).send = async () => {};
    // STUN answers too (the agent's liveness probe asks with binding requests): a dead path drops everything.
    const protocols = (ice.connection as unknown as { protocols?: { sendStun: () => Promise<void> }[] }).protocols;
    for (const p of protocols ?? []) p.sendStun = async () => {};
  }
}

export class TestWhipAnswerer extends EventEmitter<AnswererEvents> {
  private server: Server | undefined;
  readonly posts: RecordedPost[] = [];
  readonly sessions: AnswererSession[] = [];
  /** Every score received, across sessions, in arrival order. */
  readonly scores: ScoreUpdate[] = [];
  /** Return a response to short-circuit a POST (e.g. 409 problem+json). */
  intercept:
    | ((post: RecordedPost) => { status: number; body: string; headers?: Record<string, string> } | undefined)
    | undefined;
  url = '';

  /**
   * a=setup of the answer. werift answers 'active' by itself; mediasoup-based
   * ingests usually answer 'passive' (mediasoup as DTLS server), which makes
   * the agent the DTLS client. Tests cover both.
   */
  dtlsSetup: 'active' | 'passive' = 'active';

  /**
   * Answer a simulcast offer's rid extension and a=simulcast (what the
   * mesh's simulcast ingest does). False: answer as an ingest that ignores
   * simulcast (no a=simulcast, no rid extension in the answer).
   */
  acceptSimulcast = true;

  /** Accept only these rids of a simulcast offer (the answer's a=simulcast:recv lists them). */
  answerRids: string[] | undefined;

  constructor(private readonly token: string) {
    super();
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.pc.close().catch(() => {})));
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  /** Simulate the ingest dropping the publisher (node crash, kill). */
  async killSession(session: AnswererSession): Promise<void> {
    await session.pc.close();
  }

  private problem(res: ServerResponse, status: number, title: string): void {
    res
      .writeHead(status, { 'content-type': 'application/problem+json' })
      .end(JSON.stringify({ type: 'about:blank', title, status }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = req.url ?? '/';

    if (req.method === 'DELETE') {
      const id = Number(path.split('/').pop());
      const session = this.sessions.find((s) => s.id === id);
      if (!session) return this.problem(res, 404, 'no such session');
      session.deleted = true;
      this.emit('delete', session);
      await session.pc.close();
      res.writeHead(200).end();
      return;
    }
    if (req.method !== 'POST' || !/^\/whip\/[^/]+$/.test(path)) return this.problem(res, 404, 'not found');

    const post: RecordedPost = { path, headers: req.headers, body };
    this.posts.push(post);
    this.emit('post', post);
    const custom = this.intercept?.(post);
    if (custom) {
      res.writeHead(custom.status, custom.headers ?? {}).end(custom.body);
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.problem(res, 401, 'bad token');
    if (req.headers['content-type'] !== 'application/sdp') return this.problem(res, 415, 'need application/sdp');

    const pc = new RTCPeerConnection({
      codecs: { video: [videoCodec()], audio: [audioCodec()] },
      // A simulcast offer gets its header extensions (mid, rid) answered, as mediasoup answers them.
      ...(this.acceptSimulcast && body.includes(RTP_STREAM_ID_URI) ? { headerExtensions: headerExtensions(true) } : {}),
      bundlePolicy: 'max-bundle',
      iceLite: true,
    });
    const channel = pc.createDataChannel(SCORE_CHANNEL_LABEL, { negotiated: true, id: 0, ordered: true });
    const session: AnswererSession = {
      id: this.sessions.length + 1,
      pc,
      channel,
      offer: body,
      answer: '',
      rtp: { h264: 0, opus: 0, other: 0 },
      ssrcs: new Set(),
      scores: [],
      deleted: false,
      spsProfile: undefined,
      maxVideoSeqJump: 0,
      maxVideoTsJump: 0,
      videoStreams: new Map(),
    };
    let lastVideo: { seq: number; ts: number } | undefined;
    channel.onMessage.subscribe((msg) => {
      const parsed = parseScoreMessage(msg.toString());
      if (!parsed.success) throw new Error(`bad score message: ${msg.toString()}`);
      session.scores.push(parsed.data);
      this.scores.push(parsed.data);
      this.emit('score', parsed.data, session);
    });
    pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        session.ssrcs.add(rtp.header.ssrc);
        const pt = rtp.header.payloadType;
        if (pt === 102) {
          session.rtp.h264++;
          session.spsProfile ??= spsProfile(rtp.payload);
          const { sequenceNumber: seq, timestamp: ts } = rtp.header;
          if (lastVideo) {
            const dSeq = (seq - lastVideo.seq + 0x10000) % 0x10000;
            const dTs = (ts - lastVideo.ts + 2 ** 32) % 2 ** 32;
            // Forward moves only (a NACK retransmission goes backwards).
            if (dSeq > 0 && dSeq < 0x8000) {
              session.maxVideoSeqJump = Math.max(session.maxVideoSeqJump, dSeq);
              if (dTs < 2 ** 31) session.maxVideoTsJump = Math.max(session.maxVideoTsJump, dTs);
            }
          }
          if (!lastVideo || (seq - lastVideo.seq + 0x10000) % 0x10000 < 0x8000) lastVideo = { seq, ts };
        } else if (pt === 111) session.rtp.opus++;
        else session.rtp.other++;
        this.emit('rtp', session);
      });
    });
    await pc.setRemoteDescription({ type: 'offer', sdp: body });
    const ids = { rid: extmapId(body, RTP_STREAM_ID_URI), mid: extmapId(body, 'urn:ietf:params:rtp-hdrext:sdes:mid') };
    // Every RTP packet of every transport passes werift's router (the DTLS transports of a
    // bundled session may be replaced while it is set up): tap there, before any routing.
    const router = (pc as unknown as { router: { routeRtp: (packet: RtpPacket) => void } }).router;
    const route = router.routeRtp;
    router.routeRtp = (packet) => {
      route(packet);
      if (packet.header.payloadType === 102) {
        tapVideo(session, packet, ids);
        this.emit('rtp', session);
      }
    };
    const answer = await pc.createAnswer();
    let answerSdp = answer.sdp.replace(/a=setup:\w+/g, `a=setup:${this.dtlsSetup}`);
    if (!this.acceptSimulcast) answerSdp = answerSdp.replace(/^a=(rid|simulcast):.*\r?\n/gm, '');
    const keep = this.answerRids;
    if (keep) {
      answerSdp = answerSdp
        .replace(/^a=rid:(\S+) .*\r?\n/gm, (line, rid: string) => (keep.includes(rid) ? line : ''))
        .replace(/^a=simulcast:.*$/m, `a=simulcast:recv ${keep.join(';')}`);
    }
    // werift takes its DTLS role from the a=setup of the local answer.
    await pc.setLocalDescription({ type: 'answer', sdp: answerSdp });
    session.answer = pc.localDescription!.sdp;
    this.sessions.push(session);
    this.emit('session', session);
    res
      .writeHead(201, {
        'content-type': 'application/sdp',
        // Relative on purpose: the client must resolve it against the POST URL.
        location: `${path}/${session.id}`,
        etag: `"s${session.id}"`,
      })
      .end(session.answer);
  }
}
