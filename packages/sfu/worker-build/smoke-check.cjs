// Smoke check of a freshly built mediasoup-worker, run by build-worker.mjs
// before the binary is cached (`node smoke-check.cjs`, cwd = the mediasoup
// package, MEDIASOUP_WORKER_BIN = the new binary). Part of the recipe hash.
//
// 1. Worker start, router with opus/VP8/H264, WebRtcTransport (UDP+TCP on
//    127.0.0.1), PipeTransport with SRTP, and real RTP through an SRTP pipe
//    between two workers (srtp_protect on one side, srtp_unprotect on the
//    other: covers the libsrtp3->libsrtp2 compat layer).
// 2. Fan-out (AES_CM_128_HMAC_SHA1_80 on the recipe's OpenSSL crypto, each
//    packet authenticated and decrypted here with node's crypto) through the send path chosen by MEDIASOUP_SEND_BATCH (the
//    recipe's batching patch; run once with it unset = batched, once with 0 =
//    mediasoup's per-packet path): every consumer's receiver gets every packet
//    exactly once, in order, with the right bytes; MATCHMESH_SMOKE_EXPECT_BATCH
//    says which path the worker must report in its debug log.
// 3. Pipe retransmission age bound (recipe patch 003, smoke-rtx-age.cjs):
//    MATCHMESH_SMOKE_EXPECT_RTX_AGE_BOUND=1 when the worker runs with
//    MATCHMESH_PIPE_RTX_MAX_AGE_MS (an old packet is not resent, a fresh one is).
'use strict';
const dgram = require('node:dgram');
const mediasoup = require(process.env.MATCHMESH_SMOKE_MEDIASOUP);
const { rtxAgeCheck } = require('./smoke-rtx-age.cjs');
const expectBatch = process.env.MATCHMESH_SMOKE_EXPECT_BATCH !== '0';
const batchLogs = [];
const refusals = [];
mediasoup.setLogEventListeners({
  ondebug: (_ns, log) => {
    if (log.includes('matchmesh send batching')) batchLogs.push(log);
  },
  // The worker's stderr: says so if libsrtp2 refused the OpenSSL crypto (failed known-answer test).
  onerror: (_ns, log) => {
    if (log.includes('OpenSSL SRTP crypto refused')) refusals.push(log);
  },
});
const mediaCodecs = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
];
const ip = '127.0.0.1';
const SSRC = 11111111;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const crypto = require('node:crypto');
const srtpKey = () => crypto.randomBytes(30).toString('base64');

// An independent SRTP (AES_CM_128_HMAC_SHA1_80, RFC 3711) check on node's
// crypto: the worker's packet must authenticate and decrypt to the payload sent.
function srtpSessionKeys(keyBase64) {
  const master = Buffer.from(keyBase64, 'base64');
  const derive = (label, len) => {
    const iv = Buffer.concat([master.subarray(16, 30), Buffer.alloc(2)]);
    iv[7] ^= label;
    return crypto.createCipheriv('aes-128-ctr', master.subarray(0, 16), iv).update(Buffer.alloc(len));
  };
  return { key: derive(0, 16), auth: derive(1, 20), salt: derive(2, 14) };
}
function srtpOpen(keys, m, hdr) {
  const body = m.subarray(0, m.length - 10);
  const tag = crypto.createHmac('sha1', keys.auth).update(body).update(Buffer.alloc(4)).digest().subarray(0, 10);
  if (!tag.equals(m.subarray(m.length - 10))) return null;
  const iv = Buffer.concat([keys.salt, Buffer.alloc(2)]);
  for (let i = 0; i < 4; i++) iv[4 + i] ^= m[8 + i];
  iv[12] ^= m[2];
  iv[13] ^= m[3]; // index = ROC (0 here) << 16 | seq
  return crypto.createCipheriv('aes-128-ctr', keys.key, iv).update(body.subarray(hdr));
}

function rtp(seq, payload) {
  const hdr = Buffer.alloc(12);
  hdr[0] = 0x80;
  hdr[1] = 100;
  hdr.writeUInt16BE(seq, 2);
  hdr.writeUInt32BE(seq * 960, 4);
  hdr.writeUInt32BE(SSRC, 8);
  return Buffer.concat([hdr, payload]);
}
// The payload names its packet, so a receiver can check the bytes it got.
const payloadOf = (seq) => Buffer.alloc(80 + (seq % 7), seq & 0xff);

async function bound() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, ip, r));
  return s;
}

/**
 * One producer → 8 viewers with their own transport and socket (half SRTP)
 * and 1 SRTP transport carrying 8 consumers of the same producer (8 datagrams
 * on one socket per incoming packet: what a batch holds on a WebRtcServer).
 */
async function fanout(router, plainIn, src) {
  const viewers = [];
  const receivers = [];
  const add = async (srtp, consumers) => {
    const sink = await bound();
    const got = new Map(); // ssrc -> [{ seq, payload }]
    let keys; // the transport's own (sending) SRTP keys
    sink.on('message', (m) => {
      if (m[1] >= 192 && m[1] <= 223) return; // RTCP (rtcp-mux): sender reports, not media
      const ssrc = m.readUInt32BE(8);
      // Consumers add header extensions: the payload starts after CSRCs and extensions.
      let hdr = 12 + 4 * (m[0] & 0x0f);
      if (m[0] & 0x10) hdr += 4 + 4 * m.readUInt16BE(hdr + 2);
      if (!got.has(ssrc)) got.set(ssrc, []);
      got.get(ssrc).push({ seq: m.readUInt16BE(2), payload: keys ? srtpOpen(keys, m, hdr) : m.subarray(hdr) });
    });
    const t = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip },
      rtcpMux: true,
      comedia: false,
      enableSrtp: srtp,
      srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
    });
    await t.connect({
      ip,
      port: sink.address().port,
      srtpParameters: srtp ? { cryptoSuite: 'AES_CM_128_HMAC_SHA1_80', keyBase64: srtpKey() } : undefined,
    });
    if (srtp) keys = srtpSessionKeys(t.srtpParameters.keyBase64);
    const cs = [];
    for (let i = 0; i < consumers; i++)
      cs.push(await t.consume({ producerId: plainIn.producer.id, rtpCapabilities: router.rtpCapabilities }));
    viewers.push(t);
    receivers.push({ sink, got, srtp, consumers: cs });
  };
  for (let i = 0; i < 8; i++) await add(i % 2 === 0, 1);
  await add(true, 8);
  const N = 40;
  // Bursts of 4 back-to-back packets: one loop iteration may read several.
  for (let k = 0; k < N; k += 4) {
    for (let j = k; j < k + 4; j++) src.send(rtp(1000 + j, payloadOf(j)), plainIn.tuple.localPort, ip);
    await sleep(15);
  }
  await sleep(300);
  const problems = [];
  let streams = 0;
  for (const r of receivers) {
    for (const c of r.consumers) {
      const ssrc = c.rtpParameters.encodings[0].ssrc;
      const pkts = r.got.get(ssrc) ?? [];
      streams++;
      const seqs = pkts.map((p) => p.seq);
      const unique = new Set(seqs).size;
      const inOrder = seqs.every((s, i) => i === 0 || ((s - seqs[i - 1]) & 0xffff) === 1);
      // The payload sent (SRTP: authenticated and decrypted here, independently of libsrtp).
      const bytesOk = pkts.every((p, i) => p.payload !== null && p.payload.equals(payloadOf(i)));
      const stats = await c.getStats();
      const counted = stats.find((s) => s.type === 'outbound-rtp')?.packetCount;
      if (pkts.length !== N || unique !== N || !inOrder || !bytesOk || counted !== N) {
        problems.push(
          `ssrc ${ssrc} (${r.srtp ? 'srtp' : 'plain'}): got ${pkts.length}/${N}, ${unique} distinct, ` +
            `inOrder=${inOrder}, bytesOk=${bytesOk}, consumer packetCount=${counted}`,
        );
      }
    }
    // Nothing for an SSRC no consumer of this transport has.
    for (const ssrc of r.got.keys()) {
      if (!r.consumers.some((c) => c.rtpParameters.encodings[0].ssrc === ssrc)) problems.push(`stray ssrc ${ssrc}`);
    }
  }
  for (const r of receivers) r.sink.close();
  for (const t of viewers) t.close();
  return { receivers: receivers.length, streams, packetsPerStream: N, problems };
}

(async () => {
  const logSettings = { logLevel: 'debug', logTags: ['info'] };
  const worker = await mediasoup.createWorker(logSettings);
  // pipeToRouter() keeps producer ids, so the second router lives in another worker.
  const worker2 = await mediasoup.createWorker({ logLevel: 'warn' });
  for (const w of [worker, worker2])
    w.on('died', (e) => {
      console.error('worker died:', e);
      process.exit(2);
    });
  const router = await worker.createRouter({ mediaCodecs });
  const router2 = await worker2.createRouter({ mediaCodecs });
  const webRtcTransport = await router.createWebRtcTransport({
    listenInfos: [
      { protocol: 'udp', ip },
      { protocol: 'tcp', ip },
    ],
  });
  const pipeTransport = await router.createPipeTransport({ listenInfo: { protocol: 'udp', ip }, enableSrtp: true });

  // RTP in (plain) -> router -> SRTP pipe -> router2 -> RTP out (plain).
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
  plainIn.producer = producer;
  const { pipeConsumer, pipeProducer } = await router.pipeToRouter({
    producerId: producer.id,
    router: router2,
    enableSrtp: true,
  });
  const sink = await bound();
  let received = 0;
  sink.on('message', () => {
    received++;
  });
  const plainOut = await router2.createPlainTransport({
    listenInfo: { protocol: 'udp', ip },
    rtcpMux: true,
    comedia: false,
  });
  await plainOut.connect({ ip, port: sink.address().port });
  await plainOut.consume({ producerId: producer.id, rtpCapabilities: router2.rtpCapabilities });
  const src = dgram.createSocket('udp4');
  for (let seq = 1; seq <= 50 && received < 5; seq++) {
    src.send(rtp(seq, Buffer.alloc(80, 0xab)), plainIn.tuple.localPort, ip);
    await sleep(20);
  }
  await sleep(200);
  const pipeStats = await pipeConsumer.getStats();
  if (received < 1) throw new Error('no RTP made it through the SRTP pipe between routers');
  pipeConsumer.close();
  pipeProducer.close();
  plainOut.close();
  sink.close();

  const fan = await fanout(router, plainIn, src);
  const rtxAge = await rtxAgeCheck({
    router,
    ip,
    expectBound: process.env.MATCHMESH_SMOKE_EXPECT_RTX_AGE_BOUND === '1',
  });
  const batchOn = batchLogs.some((l) => l.includes('send batching: on'));
  const batchOff = batchLogs.some((l) => l.includes('send batching: off'));
  const first = batchLogs.map((l) => /first sendmmsg\(\) sent (\d+)/.exec(l)).find(Boolean);
  console.log(
    JSON.stringify({
      mediasoupVersion: mediasoup.version,
      workerPid: worker.pid,
      routerCodecs: router.rtpCapabilities.codecs.map(
        (c) =>
          c.mimeType + (c.parameters && c.parameters['profile-level-id'] ? '/' + c.parameters['profile-level-id'] : ''),
      ),
      webRtcIceCandidates: webRtcTransport.iceCandidates.map((c) => c.protocol + ':' + c.port),
      dtlsFingerprints: webRtcTransport.dtlsParameters.fingerprints.length,
      pipeTransportSrtp: pipeTransport.srtpParameters && pipeTransport.srtpParameters.cryptoSuite,
      rtpThroughSrtpPipe: received,
      pipeConsumerPacketsSent: pipeStats[0] && pipeStats[0].packetCount,
      sendBatching: batchOn ? 'on' : batchOff ? 'off' : 'not reported',
      firstSendmmsgDatagrams: first ? Number(first[1]) : null,
      fanout: {
        receivers: fan.receivers,
        streams: fan.streams,
        packetsPerStream: fan.packetsPerStream,
        problems: fan.problems.length,
      },
      rtxAge,
    }),
  );
  if (fan.problems.length) throw new Error(`fan-out: ${fan.problems.join('; ')}`);
  if (refusals.length) throw new Error(`libsrtp2 refused the OpenSSL crypto: ${refusals.join('; ')}`);
  if (expectBatch && !(batchOn && first && Number(first[1]) >= 2)) {
    throw new Error(`expected batched sends (sendmmsg of >= 2 datagrams); worker said: ${JSON.stringify(batchLogs)}`);
  }
  if (!expectBatch && !(batchOff && !first)) {
    throw new Error(`expected per-packet sends (MEDIASOUP_SEND_BATCH=0); worker said: ${JSON.stringify(batchLogs)}`);
  }
  src.close();
  plainIn.close();
  pipeTransport.close();
  webRtcTransport.close();
  router.close();
  router2.close();
  worker.close();
  worker2.close();
  console.log('SMOKE_OK');
})().catch((e) => {
  console.error((e && e.stack) || e);
  process.exit(1);
});
