import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * A real `redis-server` child process: for tests (every package's tests and
 * the e2e suite use this, never a mock) and for `npm start` / the node when no
 * REDIS_URL is configured ("embedded" Redis).
 *
 * Readiness is polled every 20 ms (INFO server answered by *our* pid) rather
 * than guessed with a sleep, and a
 * process that exits during start-up (port taken, bad flag, binary missing)
 * fails the start at once with its output in the error.
 */
export interface RedisServer {
  /** redis://host:port */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** PID of the current process; undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Graceful shutdown (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: simulates a crash / a Redis outage. Idempotent. */
  kill(): Promise<void>;
  /** Start again on the same port (stopping first if needed). Data is not kept unless persisted. */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  /** Port to use; default: a free port chosen by the OS. */
  port?: number;
  /** Interface to bind; default 127.0.0.1 (never expose a dev Redis). */
  host?: string;
  /** Working directory of redis-server (created if missing). Default: the OS temp dir. */
  dataDir?: string;
  /** Keep an RDB snapshot in dataDir across restarts. Default false: coordination state is ephemeral. */
  persist?: boolean;
  /** redis-server binary; default env REDIS_SERVER_BIN or `redis-server` on PATH. */
  bin?: string;
  /** Default 10 s. */
  startTimeoutMs?: number;
  /** Extra command-line arguments, e.g. ['--maxmemory', '64mb']. */
  extraArgs?: string[];
  /** A config file, given first on the command line as redis wants it (a sentinel's: it rewrites the file). */
  configFile?: string;
}

/** Every live child, killed when this process exits so no test run leaks redis-servers. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** A TCP port that was free a moment ago (the OS picks it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (!address || typeof address === 'string') throw new Error('could not allocate a port');
  return address.port;
}

/**
 * One `INFO server` over a raw socket: the pid of the redis-server answering
 * on host:port, or null. Checking the pid (not just +PONG) matters: when the
 * port is already taken, *another* Redis answers while ours is still failing
 * to bind.
 */
function probePid(host: string, port: number, timeoutMs = 500): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (pid: number | null) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.on('error', () => done(null));
    socket.on('connect', () => socket.write('*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n'));
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const header = buf.indexOf('\r\n');
      if (header < 0) return;
      // -LOADING... or any error: not ready yet.
      if (buf[0] !== 0x24 /* $ */) return done(null);
      const len = Number(buf.subarray(1, header).toString());
      if (buf.length < header + 2 + len) return;
      const info = buf.subarray(header + 2, header + 2 + len).toString();
      const m = /process_id:(\d+)/.exec(info);
      done(m ? Number(m[1]) : null);
    });
  });
}

interface Spawned {
  child: ChildProcess;
  exited: Promise<void>;
  output: string[];
}

function spawnRedis(bin: string, args: string[], cwd: string | undefined): Spawned {
  const output: string[] = [];
  const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (line.trim()) output.push(line);
    }
    if (output.length > 50) output.splice(0, output.length - 50);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      output.push(String(err));
      live.delete(child);
      resolve();
    });
  });
  return { child, exited, output };
}

async function waitReady(s: Spawned, host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void s.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) break;
    if ((await probePid(host, port)) === s.child.pid) return;
    await delay(20);
  }
  s.child.kill('SIGKILL');
  await s.exited;
  const why = exited ? 'exited during start-up' : `did not answer PING within ${timeoutMs} ms`;
  const hint = s.output.some((l) => l.includes('ENOENT'))
    ? ' (is redis-server installed? apt-get install redis-server)'
    : '';
  throw new Error(`redis-server on ${host}:${port} ${why}${hint}\n${s.output.join('\n')}`);
}

export async function startRedisServer(options: StartRedisOptions = {}): Promise<RedisServer> {
  installExitHook();
  const host = options.host ?? '127.0.0.1';
  const bin = options.bin ?? process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });

  const argsFor = (port: number) => [
    ...(options.configFile ? [options.configFile] : []),
    '--port',
    String(port),
    '--bind',
    host,
    '--save',
    options.persist && options.dataDir ? '60 1' : '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
    ...(options.dataDir ? ['--dir', options.dataDir] : []),
    ...(options.extraArgs ?? []),
  ];

  // A free port can be taken between freePort() and redis binding it; with
  // an OS-chosen port just try another one.
  let port = options.port ?? (await freePort(host));
  let current: Spawned | null = null;
  for (let attempt = 1; ; attempt++) {
    const s = spawnRedis(bin, argsFor(port), options.dataDir);
    try {
      await waitReady(s, host, port, timeoutMs);
      current = s;
      break;
    } catch (err) {
      const portTaken = s.output.some((l) => /address already in use/i.test(l));
      if (options.port === undefined && portTaken && attempt < 5) {
        port = await freePort(host);
        continue;
      }
      throw err;
    }
  }

  const terminate = async (signal: NodeJS.Signals) => {
    const s = current;
    if (!s) return;
    current = null;
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill(signal);
      if (signal !== 'SIGKILL') {
        const timer = setTimeout(() => s.child.kill('SIGKILL'), 5_000);
        await s.exited;
        clearTimeout(timer);
      }
    }
    await s.exited;
  };

  return {
    url: `redis://${host}:${port}`,
    host,
    port,
    get pid() {
      return current?.child.pid;
    },
    get running() {
      return current !== null;
    },
    stop: () => terminate('SIGTERM'),
    kill: () => terminate('SIGKILL'),
    async restart() {
      await terminate('SIGTERM');
      const s = spawnRedis(bin, argsFor(port), options.dataDir);
      await waitReady(s, host, port, timeoutMs);
      current = s;
    },
  };
}

export interface EmbeddedRedisOptions {
  /** Where redis-server runs (and keeps its snapshot when `persist`); e.g. `<repo>/.matchmesh/redis`. */
  dataDir?: string;
  /** Fixed port so several local nodes can share it; default: a free port. */
  port?: number;
  persist?: boolean;
}

/**
 * Redis for a node / `npm start` when REDIS_URL is not set. Same process
 * management as the test harness: bound to 127.0.0.1, stopped with stop(),
 * killed automatically when the parent process exits.
 */
export function startEmbeddedRedis(options: EmbeddedRedisOptions = {}): Promise<RedisServer> {
  return startRedisServer(options);
}
