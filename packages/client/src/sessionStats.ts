import type { types as ms } from 'mediasoup-client';
import type { ScoreFeed } from './ScoreFeed.ts';
import type { SessionState } from './SessionLifecycle.ts';

/** What a session reports (WebRTC fully; HLS as far as it has the figures: the player shows one panel). */
export type SessionStats = {
  state: SessionState;
  /** mediasoup-client transport connection state (ICE + DTLS). */
  iceState: ms.ConnectionState;
  /** 'udp' | 'tcp' of the selected local candidate, when known. */
  iceProtocol?: string;
  /** 'host' | 'srflx' | 'prflx' | 'relay' of the selected local candidate, when known. */
  iceCandidateType?: string;
  bytesReceived: number;
  inboundAudioPackets: number;
  /** Audio packets received per source ('program', 'commentary'), matched by track. */
  audioPacketsBySource?: Record<string, number>;
  inboundVideoPackets: number;
  packetsLost: number;
  framesDecoded?: number;
  framesPerSecond?: number;
  frameWidth?: number;
  frameHeight?: number;
  jitterBufferDelayMs?: number;
  /** Video: from a frame's first packet to its decoded picture (jitter buffer + decode), average, ms. */
  videoProcessingMs?: number;
  /** Inbound video RTP jitter (interarrival), ms. */
  jitterMs?: number;
  /** Round trip of the selected ICE candidate pair (STUN consent checks), ms. */
  rttMs?: number;
  /** The playout delay the node asked for, as the browser's receivers took it (jitterBufferTarget, ms). */
  playoutDelayMs?: number;
  /** The heard language's commentary delay against the picture, as the node measured it (ms; absent: none). */
  commentaryDelayMs?: number;
  /** The program video's playout target (jitterBufferTarget, ms): the commentary delay is in it. */
  programPlayoutMs?: number;
  /** The heard commentary's audio jitter buffer delay (over the last second, ms). */
  commentaryBufferMs?: number;
  scoresReceived: number;
  lastSeq: number;
  gaps: number;
  /** Seqs lost between the join snapshot and the first live update (see ScoreFeed). */
  missedAtJoin: number;
  duplicates: number;
  invalidScores: number;
};

/** The stats every session starts from: zero media counters and the feed's score counters. */
export function baseStats(
  state: SessionState,
  iceState: ms.ConnectionState,
  feed: ScoreFeed,
  invalidScores: number,
): SessionStats {
  return {
    state,
    iceState,
    bytesReceived: 0,
    inboundAudioPackets: 0,
    inboundVideoPackets: 0,
    packetsLost: 0,
    scoresReceived: feed.accepted,
    lastSeq: feed.lastSeq,
    gaps: feed.gaps,
    missedAtJoin: feed.missedAtJoin,
    duplicates: feed.duplicates,
    invalidScores,
  };
}

/** Boils an RTCStatsReport down to the numbers the player shows and tests check. */
export function summarizeStats(report: RTCStatsReport): Partial<SessionStats> {
  const out: Partial<SessionStats> = {
    bytesReceived: 0,
    inboundAudioPackets: 0,
    inboundVideoPackets: 0,
    packetsLost: 0,
  };
  let transportBytes: number | undefined;
  let selectedPairId: string | undefined;
  const byId = new Map<string, Record<string, unknown>>();
  report.forEach((s: Record<string, unknown>) => {
    byId.set(String(s.id), s);
    if (s.type === 'inbound-rtp') {
      const kind = s.kind ?? s.mediaType;
      const packets = num(s.packetsReceived);
      out.bytesReceived! += num(s.bytesReceived);
      out.packetsLost! += num(s.packetsLost);
      if (kind === 'audio') out.inboundAudioPackets! += packets;
      if (kind === 'video') {
        out.inboundVideoPackets! += packets;
        if (typeof s.framesDecoded === 'number') out.framesDecoded = (out.framesDecoded ?? 0) + s.framesDecoded;
        if (typeof s.framesPerSecond === 'number') out.framesPerSecond = s.framesPerSecond;
        if (typeof s.frameWidth === 'number') out.frameWidth = s.frameWidth;
        if (typeof s.frameHeight === 'number') out.frameHeight = s.frameHeight;
        if (typeof s.jitter === 'number') out.jitterMs = s.jitter * 1000;
        const emitted = num(s.jitterBufferEmittedCount);
        if (emitted > 0) out.jitterBufferDelayMs = (num(s.jitterBufferDelay) / emitted) * 1000;
        const decoded = num(s.framesDecoded);
        if (decoded > 0 && typeof s.totalProcessingDelay === 'number')
          out.videoProcessingMs = (s.totalProcessingDelay / decoded) * 1000;
      }
    } else if (s.type === 'transport') {
      transportBytes = (transportBytes ?? 0) + num(s.bytesReceived);
      if (typeof s.selectedCandidatePairId === 'string') selectedPairId = s.selectedCandidatePairId;
    } else if (s.type === 'candidate-pair' && s.selected === true && !selectedPairId) {
      selectedPairId = String(s.id);
    }
  });
  if (transportBytes !== undefined) out.bytesReceived = transportBytes;
  const pair = selectedPairId ? byId.get(selectedPairId) : undefined;
  if (typeof pair?.currentRoundTripTime === 'number') out.rttMs = pair.currentRoundTripTime * 1000;
  const local = pair ? byId.get(String(pair.localCandidateId)) : undefined;
  if (local) {
    if (typeof local.protocol === 'string') out.iceProtocol = local.protocol;
    if (typeof local.candidateType === 'string') out.iceCandidateType = local.candidateType;
  }
  return out;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** The jitter buffer totals (delay ms, samples emitted) of the inbound audio stream of `track`. */
export function audioBufferOf(
  report: RTCStatsReport,
  track: MediaStreamTrack | undefined,
): { delayMs: number; emitted: number } | undefined {
  let out: { delayMs: number; emitted: number } | undefined;
  report.forEach((s: Record<string, unknown>) => {
    if (!track || s.type !== 'inbound-rtp' || s.kind !== 'audio' || s.trackIdentifier !== track.id) return;
    const emitted = num(s.jitterBufferEmittedCount);
    if (emitted > 0) out = { delayMs: num(s.jitterBufferDelay) * 1000, emitted };
  });
  return out;
}

/** Inbound audio packets per consumer source, from the transport's stats (inbound-rtp carries the track id). */
export function audioPacketsBySource(
  report: RTCStatsReport,
  consumers: readonly { kind: string; source: string; track: MediaStreamTrack }[],
): Record<string, number> {
  const sourceOfTrack = new Map(consumers.filter((c) => c.kind === 'audio').map((c) => [c.track.id, c.source]));
  const out: Record<string, number> = {};
  report.forEach((s: Record<string, unknown>) => {
    if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
    const source = sourceOfTrack.get(String(s.trackIdentifier));
    if (source) out[source] = (out[source] ?? 0) + Number(s.packetsReceived ?? 0);
  });
  return out;
}
