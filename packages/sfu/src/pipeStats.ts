import type { PipeLinkStats } from '@matchmesh/protocol';
import type { types } from 'mediasoup';

type Stat = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * The sending end of a pipe: its consumers' RTP streams (mediasoup
 * RtpStreamSend stats) summed — packets sent, the packets the far end NACKed
 * (lost on the way, before recovery), retransmitted, and lost as its receiver
 * reports say (after recovery) — with the largest round trip from those reports.
 */
export async function sendingLinkStats(consumers: types.Consumer[]): Promise<PipeLinkStats> {
  const out: PipeLinkStats = { packets: 0, nacked: 0, retransmitted: 0, lost: 0 };
  const stats = await Promise.all(consumers.filter((c) => !c.closed).map((c) => c.getStats().catch(() => [])));
  for (const s of stats.flat() as Stat[]) {
    if (s.type !== 'outbound-rtp') continue;
    out.packets += num(s.packetCount);
    out.nacked += num(s.nackPacketCount);
    out.retransmitted += num(s.packetsRetransmitted);
    out.lost += num(s.packetsLost);
    const rtt = num(s.roundTripTime);
    if (rtt > 0) out.rttMs = Math.max(out.rttMs ?? 0, rtt);
  }
  return out;
}

/**
 * The receiving end of a pipe: its producers' RTP streams (RtpStreamRecv
 * stats) summed — packets received, NACKed, repaired by a retransmission,
 * and lost for good — with the largest round trip, which mediasoup measures
 * at a receiver from the sender's answers (RTCP XR DLRR) to its RRTR reports.
 */
export async function receivingLinkStats(producers: types.Producer[]): Promise<PipeLinkStats> {
  const out: PipeLinkStats = { packets: 0, nacked: 0, retransmitted: 0, lost: 0 };
  const stats = await Promise.all(producers.filter((p) => !p.closed).map((p) => p.getStats().catch(() => [])));
  for (const s of stats.flat() as Stat[]) {
    if (s.type !== 'inbound-rtp') continue;
    out.packets += num(s.packetCount);
    out.nacked += num(s.nackPacketCount);
    out.retransmitted += num(s.packetsRepaired);
    out.lost += num(s.packetsLost);
    const rtt = num(s.roundTripTime);
    if (rtt > 0) out.rttMs = Math.max(out.rttMs ?? 0, rtt);
  }
  return out;
}
