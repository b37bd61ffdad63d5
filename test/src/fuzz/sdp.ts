import { int, pick, type Rng } from './rng.ts';

/** A well-formed WHIP offer (the shape werift and browsers send) that the mutators start from. */
export const BASE_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1 2',
  'a=msid-semantic: WMS *',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:fzAb',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 DC:8D:3A:C2:3C:70:7E:F9:FF:89:20:11:4B:11:6E:E7:2F:4D:D1:41:4C:B6:8B:B9:6A:95:78:1B:BC:37:8D:D0',
  'a=setup:actpass',
  'a=mid:0',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=ssrc:1111 cname:fuzz',
  'm=video 9 UDP/TLS/RTP/SAVPF 102 103',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:fzAb',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 DC:8D:3A:C2:3C:70:7E:F9:FF:89:20:11:4B:11:6E:E7:2F:4D:D1:41:4C:B6:8B:B9:6A:95:78:1B:BC:37:8D:D0',
  'a=setup:actpass',
  'a=mid:1',
  'a=sendonly',
  'a=rtcp-mux',
  'a=rtpmap:102 H264/90000',
  'a=rtcp-fb:102 nack pli',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  'a=ssrc-group:FID 2222 3333',
  'a=ssrc:2222 cname:fuzz',
  'a=ssrc:3333 cname:fuzz',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'c=IN IP4 0.0.0.0',
  'a=mid:2',
  'a=sctp-port:5000',
  'a=max-message-size:65536',
];

const HUGE = ['9'.repeat(400), '-1', '4294967296', 'NaN', '1e309', '0x7fffffff', 'A'.repeat(5000), '%s%n%x', '\u0000'];
const CODECS = ['H265', 'AV1X', 'opus', 'VP8', 'H264', 'rtx', 'red', '', 'PCMU', 'G.722', '\uFFFF'];

/** One mutation of the base offer, as bytes (some are deliberately not UTF-8). */
export function mutateOffer(r: Rng): Buffer {
  let lines = [...BASE_OFFER];
  const steps = 1 + int(r, 4);
  for (let s = 0; s < steps; s++) {
    const i = int(r, lines.length);
    switch (int(r, 11)) {
      case 0: // truncate the whole offer
        return Buffer.from(lines.join('\r\n').slice(0, int(r, lines.join('\r\n').length)));
      case 1: // duplicate a line
        lines.splice(i, 0, lines[i]!);
        break;
      case 2: // drop a line
        lines.splice(i, 1);
        break;
      case 3: // huge or absurd value in place of a number/word
        lines[i] = lines[i]!.replace(/[0-9A-Za-z-]+$/, pick(r, HUGE));
        break;
      case 4: // another codec name
        lines = lines.map((l) =>
          l.startsWith('a=rtpmap:') && r() < 0.5 ? l.replace(/ [^/ ]+\//, ` ${pick(r, CODECS)}/`) : l,
        );
        break;
      case 5: // swap two lines
        {
          const j = int(r, lines.length);
          [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        }
        break;
      case 6: // many copies of an m= section
        lines.push(...lines.slice(lines.findIndex((l) => l.startsWith('m=video'))).slice(0, 17 + int(r, 5)));
        break;
      case 7: // wrong direction / setup / mid
        lines[i] = pick(r, [
          'a=recvonly',
          'a=inactive',
          'a=setup:holdconn',
          'a=mid:',
          'a=mid:0',
          'a=ice-ufrag:',
          'm=text 9 RTP/AVP 0',
        ]);
        break;
      case 8: // line endings and whitespace
        return Buffer.from(lines.join(pick(r, ['\n', '\r', '\r\n\r\n', ' ', '\t'])));
      case 9: // random garbage line
        lines.splice(
          i,
          0,
          `${pick(r, ['a', 'm', 'x', 'c', 'b'])}=${Buffer.from(Array.from({ length: int(r, 60) }, () => int(r, 256))).toString('latin1')}`,
        );
        break;
      default: // invalid UTF-8 bytes in the middle
        return Buffer.concat([
          Buffer.from(lines.slice(0, i).join('\r\n')),
          Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x80]),
          Buffer.from(lines.slice(i).join('\r\n')),
        ]);
    }
  }
  return Buffer.from(`${lines.join('\r\n')}\r\n`);
}
