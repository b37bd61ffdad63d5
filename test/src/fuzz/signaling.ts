import { int, pick, type Rng } from './rng.ts';

const METHODS = [
  'join',
  'createTransport',
  'connectTransport',
  'consume',
  'resumeConsumer',
  'consumeData',
  'produce',
  'restartIce',
  'fly',
  '__proto__',
  'constructor',
  'toString',
  '',
];

function value(r: Rng, depth = 0): unknown {
  switch (int(r, depth > 3 ? 6 : 9)) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, [0, -1, 1e308, Number.MAX_SAFE_INTEGER, 3.14, 2 ** 53 + 1]);
    case 3:
      return pick(r, ['', 'x'.repeat(int(r, 70_000)), '../../etc/passwd', '\u0000', 'match', '{"a":1}', 'ws://x']);
    case 4:
      return pick(r, ['direction', 'send', 'recv', 'audio', 'video']);
    case 5:
      return [];
    case 6:
      return Array.from({ length: int(r, 5) }, () => value(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let k = int(r, 5); k > 0; k--) {
        o[
          pick(r, [
            'stream',
            'token',
            'role',
            'transportId',
            'dtlsParameters',
            'rtpCapabilities',
            'kind',
            'rtpParameters',
            'consumerId',
            'sctp',
            'forceTcp',
            '__proto__',
          ])
        ] = value(r, depth + 1);
      }
      return o;
    }
  }
}

/** Frames above this are refused by the WebSocket layer itself (close 1009), not by signaling. */
const MAX_FRAME = 200 * 1024;

/** One fuzzed signaling frame: mostly JSON envelopes with wrong insides, some not JSON at all. */
export function mutateMessage(r: Rng): string | Buffer {
  const msg = generate(r);
  return msg.length > MAX_FRAME ? msg.slice(0, MAX_FRAME) : msg;
}

function generate(r: Rng): string | Buffer {
  switch (int(r, 8)) {
    case 0:
      return Buffer.from(Array.from({ length: int(r, 200) }, () => int(r, 256)));
    case 1:
      return '{"id":1,"method":"join","data":{'.slice(0, int(r, 30));
    case 2:
      return JSON.stringify(value(r));
    case 3:
      return `${'['.repeat(5000)}${']'.repeat(5000)}`;
    default:
      return JSON.stringify({
        id: r() < 0.9 ? int(r, 1e6) : value(r),
        method: pick(r, METHODS),
        data: value(r),
      });
  }
}
