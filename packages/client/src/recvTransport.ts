/*
 * The local side of a WebRTC session's receive transport. Apart from
 * WebRtcSession because it is where the session meets mediasoup-client's
 * transport events: DTLS parameters go to the node on the transport's first
 * use, and the transport's states drive the session's deadlines (TransportWatch).
 */
import type { JoinResponse, TransportInfo } from '@matchmesh/protocol';
import type { Device, types as ms } from 'mediasoup-client';
import type { SignalingClient } from './SignalingClient.ts';
import type { TransportWatch } from './TransportWatch.ts';
import type { WebRtcSessionOptions } from './WebRtcSessionTypes.ts';

/**
 * Creates the recv transport from the node's `info` (createTransport's answer or the join's `recv.transport`)
 * with the page's own ICE servers (`session`), else the node's (TURN with credentials minted for this session);
 * its DTLS parameters go to the node (connectTransport) on first use, its states to `watch`.
 */
export function openRecvTransport(
  device: Device,
  info: TransportInfo,
  session: Pick<WebRtcSessionOptions, 'iceServers' | 'iceTransportPolicy'>,
  nodeIceServers: JoinResponse['iceServers'],
  signaling: SignalingClient,
  watch: TransportWatch,
): ms.Transport {
  const iceServers = session.iceServers ?? nodeIceServers;
  const transport = device.createRecvTransport({
    ...info,
    ...(iceServers ? { iceServers: iceServers as RTCIceServer[] } : {}),
    ...(session.iceTransportPolicy ? { iceTransportPolicy: session.iceTransportPolicy } : {}),
  });
  transport.on('connect', ({ dtlsParameters }, callback, errback) => {
    watch.armIceTimer();
    signaling
      .request('connectTransport', {
        transportId: transport.id,
        dtlsParameters,
      })
      .then(() => callback(), errback);
  });
  transport.on('connectionstatechange', (s) => watch.onConnectionState(s));
  return transport;
}
