import { readFileSync } from 'node:fs';
import { reserveRtpPorts } from '../localPorts.ts';

/** Payload type and clock of the mixed track (the router's Opus; see codecs.ts). */
export const MIX_PAYLOAD_TYPE = 100;

/**
 * gst-launch-1.0 arguments of one language's mixer: one RTP/Opus input per
 * commentator slot (udpsrc → jitter buffer → depay → decode), `audiomixer`,
 * one mono Opus encode, RTP out to `outPort` (and the same to `tapPort`).
 *
 * Why GStreamer's audiomixer and not ffmpeg's amix: audiomixer is a live
 * aggregator — it mixes whatever its inputs have when its latency runs out —
 * so an empty slot, a commentator on push-to-talk or with DTX silence never
 * holds the others back; amix waits for every input and stalls the mix.
 * `max-errors=-1`: garbage a commentator sends is dropped by the decoder,
 * not turned into a pipeline error that silences the whole language.
 */
export function mixerArgs(o: {
  slotPorts: number[];
  /** The router's Opus payload type: what the voices' consumers send (the caps must name it). */
  inPayloadType: number;
  outPort: number;
  /** A second copy of the mix for the node's own ear (the mixer-lag measurement, mixerLag.ts). */
  tapPort: number;
  ssrc: number;
  bitrateKbps: number;
}): string[] {
  const caps = `application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=${o.inPayloadType}`;
  const args = [
    '-q',
    'audiomixer',
    'name=mix',
    // 20 ms: one Opus frame; the mixer's own added delay.
    'latency=20000000',
    '!',
    'audio/x-raw,rate=48000,channels=1',
    '!',
    'opusenc',
    `bitrate=${o.bitrateKbps * 1000}`,
    'frame-size=20',
    'audio-type=voice',
    '!',
    'rtpopuspay',
    `pt=${MIX_PAYLOAD_TYPE}`,
    `ssrc=${o.ssrc}`,
    '!',
    // One send per destination from one socket: the track's PlainTransport and the tap get the same packet.
    'multiudpsink',
    `clients=127.0.0.1:${o.outPort},127.0.0.1:${o.tapPort}`,
    'sync=false',
    'async=false',
  ];
  for (const port of o.slotPorts) {
    args.push(
      'udpsrc',
      'address=127.0.0.1',
      `port=${port}`,
      `caps=${caps}`,
      '!',
      'rtpjitterbuffer',
      'latency=40',
      '!',
      'rtpopusdepay',
      '!',
      'opusdec',
      'plc=true',
      'max-errors=-1',
      '!',
      'audioconvert',
      '!',
      'audioresample',
      '!',
      'mix.',
    );
  }
  return args;
}

/** `count` RTP/RTCP port pairs for the mixer's slots (sfu localPorts). */
export function reserveUdpPorts(count: number): Promise<number[]> {
  return reserveRtpPorts(count, 40000, 49998, 'the commentary mixer');
}

/** CPU seconds (user + system) a process has used so far (Linux /proc; 0 elsewhere or once it is gone). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
