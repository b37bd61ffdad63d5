import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { BOOTSTRAP_KID, type SigningKey } from '@matchmesh/protocol';
import { decodeJwt } from 'jose';
import { AdminClient, ApiError } from './api.ts';
import { type Command, DEFAULT_NODE_URL, parseCommand, USAGE, UsageError } from './args.ts';
import { executeOps } from './cli-ops.ts';
import { formatCost } from './cost.ts';
import { DrainTimeout, EXIT_DRAIN_TIMEOUT, runDrain } from './drain.ts';
import { formatKeys, formatNodes, formatRetired, formatRotated, formatScaleAdvice, formatStreams } from './format.ts';
import { formatLogLines, formatReport, formatReports } from './format-reports.ts';
import { findRepoRoot, resolveSigningKey, SecretError, signToken, TokenError } from './tokens.ts';

/** Everything the CLI touches, injectable so tests run it in-process. */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Repo root for the dev secret; default: found from this file's location, then cwd. */
  repoRoot?: string;
  fetch?: typeof fetch;
  /** Clock for heartbeat ages in `nodes` (tests). */
  now?: () => number;
  /** Ends the commands that run until stopped (`events --follow`, `top`): Ctrl-C. */
  signal?: AbortSignal;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** The node refused the credentials (401) or the role (403). */
export const EXIT_UNAUTHORIZED = 3;
/** What was named (node, stream, route) does not exist there (404). */
export const EXIT_NOT_FOUND = 4;
/** The node did not answer, timed out, or said it cannot now (503, 502, 504): worth retrying. */
export const EXIT_UNAVAILABLE = 5;

/** The exit code of a failed call, by what went wrong. */
export function exitCodeOf(err: ApiError): number {
  if (err.unreachable) return EXIT_UNAVAILABLE;
  switch (err.status) {
    case 401:
    case 403:
      return EXIT_UNAUTHORIZED;
    case 404:
      return EXIT_NOT_FOUND;
    case 502:
    case 503:
    case 504:
      return EXIT_UNAVAILABLE;
    default:
      return EXIT_FAILURE;
  }
}

/** Run one command; resolves to the exit code (never throws). */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`matchmesh: ${err.message}\n(run \`matchmesh help\` for usage)\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  try {
    await execute(command, io);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof DrainTimeout) {
      io.stderr(`matchmesh: ${err.message}\n`);
      return EXIT_DRAIN_TIMEOUT;
    }
    if (
      err instanceof ApiError ||
      err instanceof SecretError ||
      err instanceof TokenError ||
      err instanceof UsageError
    ) {
      io.stderr(`matchmesh: ${err.message}\n`);
      if (err instanceof ApiError) return exitCodeOf(err);
      return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
    }
    io.stderr(`matchmesh: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

async function execute(command: Command, io: CliIo): Promise<void> {
  const now = io.now ?? Date.now;
  switch (command.kind) {
    case 'help':
      io.stdout(`${USAGE}\n`);
      return;
    case 'token': {
      const key = resolveSigningKey(io.env, repoRoot(io));
      const token = await signToken(key, {
        role: command.role,
        stream: command.stream,
        sub: command.sub,
        backup: command.backup || undefined,
        ttl: command.ttlSeconds,
        // The jti is what the cluster records at the one exchange (a random 128-bit id).
        ...(command.once ? { once: true, jti: randomUUID() } : {}),
      });
      if (command.json) {
        const { exp } = decodeJwt(token);
        const expiresAt = new Date((exp ?? 0) * 1000).toISOString();
        const kid = typeof key === 'string' ? BOOTSTRAP_KID : key.kid;
        io.stdout(
          `${JSON.stringify({ token, role: command.role, stream: command.stream, expiresAt, kid, once: command.once }, null, 2)}\n`,
        );
      } else {
        io.stdout(`${token}\n`);
      }
      return;
    }
    case 'nodes': {
      const res = await (await client(command, io)).nodes();
      io.stdout(command.json ? json(res.raw) : `${formatNodes(res.value, now())}\n`);
      return;
    }
    case 'streams': {
      const res = await (await client(command, io)).streams();
      io.stdout(command.json ? json(res.raw) : `${formatStreams(res.value)}\n`);
      return;
    }
    case 'scale-advice': {
      const res = await (await client(command, io)).scaleAdvice(command.headroom, command.region);
      io.stdout(command.json ? json(res.raw) : `${formatScaleAdvice(res.value)}\n`);
      return;
    }
    case 'keys': {
      const admin = await client(command, io);
      if (command.action === 'list') {
        const res = await admin.keys();
        io.stdout(command.json ? json(res.raw) : `${formatKeys(res.value, now())}\n`);
      } else if (command.action === 'rotate') {
        const res = await admin.rotateKey();
        io.stdout(command.json ? json(res.raw) : `${formatRotated(res.value)}\n`);
      } else {
        const res = await admin.retireKey(command.kid!);
        io.stdout(command.json ? json(res.raw) : `${formatRetired(res.value)}\n`);
      }
      return;
    }
    case 'cost': {
      const admin = await client(command, io);
      if (command.reset) {
        const res = await admin.resetCost();
        io.stdout(
          command.json
            ? json(res.raw)
            : `cost counters reset: a new night since ${new Date(res.value.since).toISOString()}\n`,
        );
        return;
      }
      const res = await admin.cost();
      io.stdout(command.json ? json(res.raw) : `${formatCost(res.value, now())}\n`);
      return;
    }
    case 'reports': {
      const res = await (await client(command, io)).reports(command.limit);
      io.stdout(command.json ? json(res.raw) : `${formatReports(res.value, now())}\n`);
      return;
    }
    case 'report': {
      const res = await (await client(command, io)).report(command.id);
      // The log lines live on the node that served the session: ask that node.
      const logs =
        command.logs && res.value.logs.url
          ? await (await client({ ...command, url: new URL(res.value.logs.url).origin }, io)).logs(res.value.sessionId)
          : undefined;
      if (command.json) {
        io.stdout(json(logs ? { ...(res.raw as object), logLines: logs.value.lines } : res.raw));
      } else {
        io.stdout(`${formatReport(res.value)}\n${logs ? `\n${formatLogLines(logs.value.lines)}\n` : ''}`);
      }
      return;
    }
    case 'drain':
      await runDrain(await client(command, io), command, io.stdout);
      return;
    default:
      await executeOps(command, { stdout: io.stdout, signal: io.signal }, () =>
        client('url' in command ? command : { url: undefined, timeoutMs: 5_000 }, io),
      );
  }
}

function json(raw: unknown): string {
  return `${JSON.stringify(raw, null, 2)}\n`;
}

function repoRoot(io: CliIo): string {
  return (
    io.repoRoot ??
    findRepoRoot(fileURLToPath(new URL('.', import.meta.url))) ??
    findRepoRoot(process.cwd()) ??
    process.cwd()
  );
}

/** Admin client: MM_ADMIN_TOKEN, else a short-lived admin token signed with the secret. */
async function client(command: { url: string | undefined; timeoutMs: number }, io: CliIo): Promise<AdminClient> {
  const url = command.url ?? io.env.MM_NODE_URL ?? DEFAULT_NODE_URL;
  let token = io.env.MM_ADMIN_TOKEN?.trim();
  if (!token) {
    let key: string | SigningKey;
    try {
      key = resolveSigningKey(io.env, repoRoot(io));
    } catch (err) {
      throw new SecretError(`no admin credentials (set MM_ADMIN_TOKEN): ${(err as Error).message}`);
    }
    // Short-lived: it only has to outlive this one request.
    token = await signToken(key, { role: 'admin', stream: '*', sub: 'matchmesh-cli', ttl: '5m' });
  }
  return new AdminClient({
    url,
    token,
    timeoutMs: command.timeoutMs,
    ...(io.fetch ? { fetch: io.fetch } : {}),
  });
}
