import { createSocket } from 'node:dgram';
import net from 'node:net';

async function canBind(port: number): Promise<boolean> {
  const tcp = net.createServer();
  const udp = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, '127.0.0.1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    tcp.close();
    try {
      udp.close();
    } catch {
      // never bound
    }
  }
}

/** `count` consecutive ports free on 127.0.0.1 for both UDP and TCP (a WorkerPool's WebRtcServers). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await canBind(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
