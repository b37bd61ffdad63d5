import type { RTCPeerConnection } from 'werift';

/** The parts of werift's ICE Connection the liveness probe uses (not in its public types). */
interface IceInternals {
  nominated?: {
    localCandidate: unknown;
    remoteAddr: unknown;
    protocol: {
      request(
        request: unknown,
        addr: unknown,
        password: Buffer,
        options: { retransmissions: number; responseTimeout: number },
      ): Promise<unknown>;
    };
  };
  buildRequest(opts: {
    nominate: boolean;
    localUsername: string;
    remoteUsername: string;
    iceControlling: boolean;
    localCandidate: unknown;
  }): unknown;
  localUsername: string;
  remoteUsername: string;
  remotePassword: string;
  iceControlling: boolean;
}

/**
 * mediasoup sends RTCP to a publisher only every 1–1.5 s, too rarely to
 * tell a dead session within a second. So we ask: a STUN binding request
 * on the selected pair (what ICE consent freshness sends every 5 s), which
 * an ICE-lite server answers at once; the promise resolves with its answer.
 * werift does not export this, hence the guarded reach into its ICE
 * connection: undefined when it cannot be sent (no nominated pair yet, or
 * werift changed), and the watchdog falls back to RTCP silence.
 */
export function probeIngest(pc: RTCPeerConnection, responseTimeoutMs: number): Promise<unknown> | undefined {
  const conn = pc.iceTransports[0]?.connection as unknown as IceInternals | undefined;
  const pair = conn?.nominated;
  if (!conn || !pair || typeof conn.buildRequest !== 'function' || !conn.remotePassword) return undefined;
  try {
    const request = conn.buildRequest({
      nominate: false,
      localUsername: conn.localUsername,
      remoteUsername: conn.remoteUsername,
      iceControlling: conn.iceControlling,
      localCandidate: pair.localCandidate,
    });
    return pair.protocol.request(request, pair.remoteAddr, Buffer.from(conn.remotePassword, 'utf8'), {
      retransmissions: 0,
      responseTimeout: responseTimeoutMs,
    });
  } catch {
    return undefined;
  }
}
