import { once } from 'node:events';
import type { TransportInfo } from '@matchmesh/protocol';
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpSender, RtpPacket, useAudioLevelIndication } from 'werift';
import WebSocket from 'ws';
import { AUDIO_PAYLOAD_TYPE, audioCodec, headerExtensions } from '../codecs.ts';

/*
 * One commentator connection without a browser: the node's signaling
 * (join as commentator → createTransport send → connectTransport → produce),
 * with werift in place of mediasoup-client. The node's send transport is
 * ICE-lite with all its candidates in `createTransport`'s answer, so the
 * remote SDP is built from that answer (as mediasoup-client does) and werift
 * is the DTLS client.
 */

/** 'MMC\x01': recognisable in a capture. */
export const BOOTH_SSRC = 0x4d4d4301;

/** RFC 6464: each packet's level, read by the node's AudioLevelObserver (the booth's level in /ops). */
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** The id the offer gave `uri` (undefined: not offered). */
function extmapId(sdp: string, uri: string): number | undefined {
  const m = new RegExp(`^a=extmap:(\\d+) ${uri}\\s*$`, 'm').exec(sdp);
  return m ? Number(m[1]) : undefined;
}

type Pending = { resolve(v: unknown): void; reject(e: Error): void };

/** Minimal request/response over the node's signaling WebSocket (protocol signaling.ts envelopes). */
class Signaling {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, Pending>();

  constructor(url: string) {
    this.#ws = new WebSocket(url);
    this.#ws.on('message', (raw) => {
      let msg: { id?: number; ok?: boolean; data?: unknown; error?: { code?: string; message?: string } };
      try {
        msg = JSON.parse(String(raw));
      } catch {
        return;
      }
      if (typeof msg.id !== 'number') return; // notifications: the demo booth ignores them
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      if (msg.ok) p?.resolve(msg.data);
      else p?.reject(new Error(`signaling ${msg.error?.code ?? 'error'}: ${msg.error?.message ?? ''}`));
    });
    this.#ws.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('signaling closed'));
      this.#pending.clear();
    });
  }

  get socket(): WebSocket {
    return this.#ws;
  }

  async open(): Promise<void> {
    if (this.#ws.readyState !== WebSocket.OPEN) await once(this.#ws, 'open');
  }

  request<T>(method: string, data: unknown): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#ws.send(JSON.stringify({ id, method, data }));
    });
  }

  close(): void {
    this.#ws.close(1000, 'demo booth closing');
  }
}

/** The remote (answer) SDP for a send-only audio m-line, from the node's transport info. */
export function answerSdp(offer: string, t: TransportInfo): string {
  const mid = /^a=mid:(\S+)/m.exec(offer)?.[1] ?? '0';
  const extmap = extmapId(offer, 'urn:ietf:params:rtp-hdrext:sdes:mid');
  const level = extmapId(offer, AUDIO_LEVEL_URI);
  const fp = t.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? t.dtlsParameters.fingerprints[0];
  if (!fp) throw new Error('node transport has no DTLS fingerprint');
  const candidates = t.iceCandidates.map(
    (c) =>
      `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${c.address} ${c.port} typ host` +
      (c.protocol === 'tcp' ? ` tcptype ${c.tcpType ?? 'passive'}` : ''),
  );
  return [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${mid}`,
    `m=audio 7 UDP/TLS/RTP/SAVPF ${AUDIO_PAYLOAD_TYPE}`,
    'c=IN IP4 127.0.0.1',
    `a=mid:${mid}`,
    'a=recvonly',
    'a=rtcp-mux',
    `a=ice-ufrag:${t.iceParameters.usernameFragment}`,
    `a=ice-pwd:${t.iceParameters.password}`,
    `a=fingerprint:${fp.algorithm} ${fp.value}`,
    'a=setup:passive',
    `a=rtpmap:${AUDIO_PAYLOAD_TYPE} opus/48000/2`,
    `a=fmtp:${AUDIO_PAYLOAD_TYPE} minptime=10;useinbandfec=1;usedtx=1`,
    ...(extmap ? [`a=extmap:${extmap} urn:ietf:params:rtp-hdrext:sdes:mid`] : []),
    ...(level ? [`a=extmap:${level} ${AUDIO_LEVEL_URI}`] : []),
    ...candidates,
    'a=end-of-candidates',
    '',
  ].join('\r\n');
}

export interface BoothSessionOptions {
  nodeUrl: string;
  stream: string;
  token: string;
  connectTimeoutMs: number;
}

/**
 * A live commentator connection: `sendRtp` forwards Opus RTP (any SSRC/PT:
 * werift rewrites both), labelled with the packet's audio level.
 */
export class BoothSession {
  readonly #signaling: Signaling;
  readonly #pc: RTCPeerConnection;
  readonly #sender: RTCRtpSender;
  #dead = false;
  /** The audio level extension's id in the negotiated m-line (undefined: none). */
  #levelExtId: number | undefined;
  #onDead: (reason: string) => void = () => {};
  producerId: string | undefined;

  constructor(readonly opts: BoothSessionOptions) {
    const url = new URL(opts.nodeUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
    this.#signaling = new Signaling(url.toString());
    this.#pc = new RTCPeerConnection({
      codecs: { audio: [audioCodec()], video: [] },
      headerExtensions: { audio: [...headerExtensions().audio, useAudioLevelIndication()], video: [] },
      bundlePolicy: 'max-bundle',
      iceAdditionalHostAddresses: ['127.0.0.1'],
    });
    const transceiver = this.#pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    this.#sender = transceiver.sender;
    (this.#sender as unknown as { ssrc: number }).ssrc = BOOTH_SSRC;
    (this.#pc as unknown as { router: { registerRtpSender(s: RTCRtpSender): void } }).router.registerRtpSender(
      this.#sender,
    );
  }

  /** Called once when the session is unusable (signaling closed, ICE/DTLS failed). */
  onDead(fn: (reason: string) => void): void {
    this.#onDead = fn;
  }

  async start(): Promise<void> {
    const timer = setTimeout(() => this.#die('connect timeout'), this.opts.connectTimeoutMs);
    try {
      this.#signaling.socket.on('close', (code) => this.#die(`signaling closed (${code})`));
      this.#signaling.socket.on('error', (err) => this.#die(`signaling error: ${err.message}`));
      await this.#signaling.open();
      await this.#signaling.request('join', { stream: this.opts.stream, token: this.opts.token, role: 'commentator' });
      const transport = await this.#signaling.request<TransportInfo>('createTransport', {
        direction: 'send',
        sctp: false,
      });
      await this.#pc.setLocalDescription(await this.#pc.createOffer());
      const offer = this.#pc.localDescription?.sdp ?? '';
      await this.#pc.setRemoteDescription({ type: 'answer', sdp: answerSdp(offer, transport) });
      const fp = /^a=fingerprint:(\S+) (\S+)/m.exec(offer);
      if (!fp) throw new Error('werift offer has no fingerprint');
      await this.#signaling.request('connectTransport', {
        transportId: transport.id,
        dtlsParameters: { role: 'client', fingerprints: [{ algorithm: fp[1], value: fp[2] }] },
      });
      const mid = /^a=mid:(\S+)/m.exec(offer)?.[1] ?? '0';
      const extmap = extmapId(offer, 'urn:ietf:params:rtp-hdrext:sdes:mid');
      this.#levelExtId = extmapId(offer, AUDIO_LEVEL_URI);
      const cname = /^a=ssrc:\d+ cname:(\S+)/m.exec(offer)?.[1] ?? 'demo-booth';
      const produced = await this.#signaling.request<{ id: string }>('produce', {
        transportId: transport.id,
        kind: 'audio',
        rtpParameters: {
          mid,
          codecs: [
            {
              mimeType: 'audio/opus',
              payloadType: AUDIO_PAYLOAD_TYPE,
              clockRate: 48_000,
              channels: 2,
              parameters: { minptime: 10, useinbandfec: 1, usedtx: 1 },
              rtcpFeedback: [],
            },
          ],
          headerExtensions: [
            ...(extmap ? [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: extmap }] : []),
            ...(this.#levelExtId ? [{ uri: AUDIO_LEVEL_URI, id: this.#levelExtId }] : []),
          ],
          encodings: [{ ssrc: BOOTH_SSRC }],
          rtcp: { cname, reducedSize: true },
        },
      });
      this.producerId = produced.id;
      if (this.#pc.connectionState !== 'connected') {
        await new Promise<void>((resolve, reject) => {
          const sub = this.#pc.connectionStateChange.subscribe((s) => {
            if (s === 'connected') resolve();
            if (s === 'failed' || s === 'closed') reject(new Error(`peer connection ${s}`));
          });
          void sub;
        });
      }
      this.#pc.connectionStateChange.subscribe((s) => {
        if (s === 'failed' || s === 'closed' || s === 'disconnected') this.#die(`peer connection ${s}`);
      });
    } catch (err) {
      this.#die(err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `level`: RFC 6464's 0–127 (−dBov; 127 silence), sent with the voice-activity bit when not silent. */
  sendRtp(packet: Buffer, level?: number): void {
    if (this.#dead || this.#pc.connectionState !== 'connected') return;
    let rtp: RtpPacket;
    try {
      rtp = RtpPacket.deSerialize(packet);
    } catch {
      return;
    }
    if (level !== undefined && this.#levelExtId) {
      const byte = (level < 127 ? 0x80 : 0) | Math.max(0, Math.min(127, Math.round(level)));
      rtp.header.extension = true;
      rtp.header.extensions.push({ id: this.#levelExtId, payload: Buffer.from([byte]) });
    }
    this.#sender.sendRtp(rtp).catch(() => {});
  }

  close(): void {
    this.#dead = true;
    this.#signaling.close();
    void this.#pc.close();
  }

  #die(reason: string): void {
    if (this.#dead) return;
    this.close();
    this.#onDead(reason);
  }
}
