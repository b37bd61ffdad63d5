import type { types } from 'mediasoup';

/**
 * A voice as a booth's browser sends it (mono Opus in stereo RTP, payload type 111, in-band FEC), produced
 * from a comedia plain transport: whatever sends RTP with `ssrc` to `port` (an ffmpeg) becomes the producer.
 */
export async function produceOpusVoice(
  router: types.Router,
  ssrc: number,
  appData: Record<string, unknown> = {},
): Promise<{ producer: types.Producer; port: number }> {
  const input = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
    rtcpMux: true,
    comedia: true,
  });
  const producer = await input.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [
        {
          mimeType: 'audio/opus',
          payloadType: 111,
          clockRate: 48000,
          channels: 2,
          parameters: { useinbandfec: 1 },
          rtcpFeedback: [],
        },
      ],
      encodings: [{ ssrc }],
    },
    appData,
  });
  return { producer, port: input.tuple.localPort };
}
