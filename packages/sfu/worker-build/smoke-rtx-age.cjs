// Smoke check of recipe patch 003 (pipe retransmission age bound), required by
// smoke-check.cjs and part of the recipe hash. A pipe consumer (PipeTransport
// with RTX, clear RTP to a socket of ours) forwards ten opus packets whose RTP
// timestamps are 100 ms apart; the socket then NACKs an old one (800 ms of media
// behind the newest) and a fresh one (100 ms). With the worker's
// MATCHMESH_PIPE_RTX_MAX_AGE_MS set below 800 (expectBound) only the fresh one
// must come back a second time; without it (mediasoup's behaviour) both must.
'use strict';
const dgram = require('node:dgram');

const SSRC = 22222222;
const PACKETS = 10;
const OLD = 2; // 800 ms of media behind packet 10
const FRESH = 9; // 100 ms behind

function rtpPacket(i) {
  const hdr = Buffer.alloc(12);
  hdr[0] = 0x80;
  hdr[1] = 100;
  hdr.writeUInt16BE(1000 + i, 2);
  hdr.writeUInt32BE(i * 4800, 4); // 100 ms of 48 kHz per packet
  hdr.writeUInt32BE(SSRC, 8);
  return Buffer.concat([hdr, Buffer.alloc(40, i)]); // the payload names the packet
}

// RTCP generic NACK (RFC 4585 §6.2.1) for one sequence number.
function nack(mediaSsrc, seq) {
  const m = Buffer.alloc(16);
  m[0] = 0x81; // V=2, FMT=1
  m[1] = 205; // RTPFB
  m.writeUInt16BE(3, 2);
  m.writeUInt32BE(1, 4);
  m.writeUInt32BE(mediaSsrc, 8);
  m.writeUInt16BE(seq, 12);
  return m;
}

function waitFor(predicate, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = setInterval(() => {
      if (predicate()) {
        clearInterval(tick);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(tick);
        reject(new Error(`rtx age check: timed out waiting for ${what}`));
      }
    }, 10);
  });
}

/** Returns a summary; throws if the worker retransmits other than expected. */
async function rtxAgeCheck({ router, ip, expectBound }) {
  const plainIn = await router.createPlainTransport({
    listenInfo: { protocol: 'udp', ip },
    rtcpMux: true,
    comedia: true,
  });
  const producer = await plainIn.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: SSRC }],
    },
  });
  const pipe = await router.createPipeTransport({ listenInfo: { protocol: 'udp', ip }, enableRtx: true });
  const sink = dgram.createSocket('udp4');
  await new Promise((r) => sink.bind(0, ip, r));
  const copies = new Map(); // packet index -> { seq, count }
  sink.on('message', (m) => {
    if (m[1] >= 192 && m[1] <= 223) return; // RTCP
    const i = m[m.length - 1];
    const seen = copies.get(i) ?? { seq: m.readUInt16BE(2), ssrc: m.readUInt32BE(8), count: 0 };
    seen.count++;
    copies.set(i, seen);
  });
  await pipe.connect({ ip, port: sink.address().port });
  const consumer = await pipe.consume({ producerId: producer.id });
  if (!consumer.rtpParameters.codecs[0].rtcpFeedback.some((fb) => fb.type === 'nack' && !fb.parameter)) {
    throw new Error('rtx age check: the pipe consumer does not take NACKs');
  }
  const src = dgram.createSocket('udp4');
  for (let i = 1; i <= PACKETS; i++) src.send(rtpPacket(i), plainIn.tuple.localPort, ip);
  await waitFor(() => copies.size === PACKETS, 3000, `${PACKETS} packets through the pipe consumer`);
  const ssrc = copies.get(FRESH).ssrc;
  // From the address the pipe is connected to: a PipeTransport ignores other senders.
  sink.send(nack(ssrc, copies.get(OLD).seq), pipe.tuple.localPort, ip);
  sink.send(nack(ssrc, copies.get(FRESH).seq), pipe.tuple.localPort, ip);
  await waitFor(() => copies.get(FRESH).count === 2, 3000, 'the fresh packet retransmitted');
  // The old packet's NACK was sent first: had it been answered, its copy would be here by now;
  // give the worker's loop one more round anyway.
  await new Promise((r) => setTimeout(r, 100));
  const oldCopies = copies.get(OLD).count;
  const stats = (await consumer.getStats()).find((s) => s.type === 'outbound-rtp');
  src.close();
  sink.close();
  pipe.close();
  plainIn.close();
  const summary = {
    bound: expectBound,
    oldPacketCopies: oldCopies,
    freshPacketCopies: copies.get(FRESH).count,
    nackPacketCount: stats?.nackPacketCount,
  };
  if (expectBound && oldCopies !== 1) {
    throw new Error(
      `rtx age check: a packet 800 ms old was retransmitted despite the bound: ${JSON.stringify(summary)}`,
    );
  }
  if (!expectBound && oldCopies !== 2) {
    throw new Error(`rtx age check: without a bound the old packet must be retransmitted: ${JSON.stringify(summary)}`);
  }
  return summary;
}

module.exports = { rtxAgeCheck };
