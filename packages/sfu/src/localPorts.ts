import dgram from 'node:dgram';

/**
 * `count` pairs of free UDP ports on 127.0.0.1 (an even RTP port and the RTCP
 * port after it), tried at random in [min, max): where a local process
 * (GStreamer's commentary mixer, ffmpeg's HLS packager) exchanges RTP with a
 * PlainTransport. `purpose` names the user in the error when none is free.
 */
export async function reserveRtpPorts(count: number, min: number, max: number, purpose: string): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count && attempt < 200; attempt++) {
    const p = min + 2 * Math.floor((Math.random() * (max - min)) / 2);
    if (ports.includes(p) || !(await canBind(p)) || !(await canBind(p + 1))) continue;
    ports.push(p);
  }
  if (ports.length < count) throw new Error(`no free UDP ports for ${purpose}`);
  return ports;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
