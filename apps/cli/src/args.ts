import { parseArgs } from 'node:util';
import { ANY_STREAM, KeyId, Role, SESSION_ROLES, StreamId } from '@matchmesh/protocol';
import { OPS_USAGE, type OpsCommand, OpsUsageError, parseOpsCommand } from './args-ops.ts';
import type { DrainCommand } from './drain.ts';
import { parseTtl } from './tokens.ts';

/** Bad command line: the CLI prints the message and the usage, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `matchmesh — matchmesh ops CLI

Usage:
  matchmesh token --role <role> --stream <id|*> [--ttl 1h] [--backup] [--once] [--sub <name>] [--json]
  matchmesh nodes   [--url <node-url>] [--json]
  matchmesh streams [--url <node-url>] [--json]
  matchmesh drain <nodeId> [--force] [--wait [--timeout 5m]] [--undo] [--url <node-url>] [--json]
        --force: drain even a region's last serving relay (409 otherwise); --wait: then wait until the
        node holds nothing (GET /api/v1/nodes/<id>/drain: empty) — exit 1 if --timeout (default 5m) passes
  matchmesh scale-advice [--headroom 0.25] [--region <r>] [--url <node-url>] [--json]   relays each region needs now
  matchmesh keys list|rotate|retire <kid> [--url <node-url>] [--json]   token signing keys
  matchmesh cost [--reset] [--url <node-url>] [--json]   the night's cost per region beside the CDN's (--reset: a new night)
  matchmesh reports [--limit 100] [--url <node-url>] [--json]   viewers' problem reports, newest first
  matchmesh report <id> [--logs] [--url <node-url>] [--json]    one report's figures (--logs: its session's node log lines)
${OPS_USAGE}

Roles: ${Role.options.join(', ')}   (--backup: publisher only; --once: a viewer/commentator link that
opens one session, POST /api/v1/session, and is refused everywhere else and a second time)
Token secret: MM_TOKEN_SECRET, else <repo>/.matchmesh/secret (npm run setup creates it);
with MM_TOKEN_KID, tokens name that key (a rotated key's kid and secret, from \`keys rotate\`).
Admin commands talk to --url (default MM_NODE_URL or http://127.0.0.1:8080) with
MM_ADMIN_TOKEN, or an admin token signed with the secret.
Exit codes (for scripts): 0 ok, 1 failure, 2 bad usage, 3 unauthorized or forbidden (401/403),
4 not found (404), 5 unavailable (node unreachable, timed out, or 503).`;

export const DEFAULT_NODE_URL = 'http://127.0.0.1:8080';

export type Command =
  | { kind: 'help' }
  | {
      kind: 'token';
      role: Role;
      stream: string;
      ttlSeconds: number;
      backup: boolean;
      /** Single-use: exchanged once for a session credential (viewer/commentator links). */
      once: boolean;
      sub: string | undefined;
      json: boolean;
    }
  | { kind: 'nodes' | 'streams'; url: string | undefined; json: boolean; timeoutMs: number }
  | {
      kind: 'scale-advice';
      headroom: number;
      region: string | undefined;
      url: string | undefined;
      json: boolean;
      timeoutMs: number;
    }
  | { kind: 'cost'; reset: boolean; url: string | undefined; json: boolean; timeoutMs: number }
  | {
      kind: 'keys';
      action: 'list' | 'rotate' | 'retire';
      /** The key to retire. */
      kid: string | undefined;
      url: string | undefined;
      json: boolean;
      timeoutMs: number;
    }
  | { kind: 'reports'; limit: number; url: string | undefined; json: boolean; timeoutMs: number }
  | { kind: 'report'; id: string; logs: boolean; url: string | undefined; json: boolean; timeoutMs: number }
  | ({
      kind: 'drain';
      url: string | undefined;
      /** Each request's timeout (with --wait, --timeout is the whole wait's instead). */
      timeoutMs: number;
    } & DrainCommand)
  | OpsCommand;

const common = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const admin = {
  ...common,
  url: { type: 'string' },
  timeout: { type: 'string' },
} as const;

/** argv (without node and script) → a validated Command, or UsageError. */
export function parseCommand(argv: readonly string[]): Command {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') return { kind: 'help' };
  switch (name) {
    case 'token':
      return parseToken(rest);
    case 'nodes':
    case 'streams': {
      const { values, positionals } = parse(rest, admin);
      if (values.help) return { kind: 'help' };
      noPositionals(name, positionals);
      return { kind: name, url: values.url, json: !!values.json, timeoutMs: timeout(values.timeout) };
    }
    case 'scale-advice': {
      const { values, positionals } = parse(rest, {
        ...admin,
        headroom: { type: 'string' },
        region: { type: 'string' },
      });
      if (values.help) return { kind: 'help' };
      noPositionals(name, positionals);
      const headroom = values.headroom === undefined ? 0.25 : Number(values.headroom);
      if (!Number.isFinite(headroom) || headroom < 0 || headroom > 4) {
        throw new UsageError(`scale-advice: invalid --headroom ${JSON.stringify(values.headroom)} (0 to 4, e.g. 0.25)`);
      }
      const region = values.region;
      return { kind: name, headroom, region, url: values.url, json: !!values.json, timeoutMs: timeout(values.timeout) };
    }
    case 'cost': {
      const { values, positionals } = parse(rest, { ...admin, reset: { type: 'boolean' } });
      if (values.help) return { kind: 'help' };
      noPositionals(name, positionals);
      return {
        kind: name,
        reset: !!values.reset,
        url: values.url,
        json: !!values.json,
        timeoutMs: timeout(values.timeout),
      };
    }
    case 'drain': {
      const { values, positionals } = parse(rest, {
        ...admin,
        undo: { type: 'boolean' },
        force: { type: 'boolean' },
        wait: { type: 'boolean' },
        poll: { type: 'string' },
      });
      if (values.help) return { kind: 'help' };
      const [nodeId, ...extra] = positionals;
      if (!nodeId) throw new UsageError('drain: missing <nodeId>');
      noPositionals(name, extra);
      if (values.undo && (values.force || values.wait))
        throw new UsageError('drain: --undo takes no --force or --wait');
      const wait = !!values.wait;
      return {
        kind: 'drain',
        nodeId,
        draining: !values.undo,
        force: !!values.force,
        wait,
        // With --wait, --timeout bounds the whole wait (a preStop hook's budget); each request keeps 5 s.
        waitMs: values.timeout === undefined ? 300_000 : timeout(values.timeout),
        pollMs: pollMs(values.poll),
        url: values.url,
        json: !!values.json,
        timeoutMs: wait ? 5_000 : timeout(values.timeout),
      };
    }
    case 'keys':
      return parseKeys(rest);
    case 'reports': {
      const { values, positionals } = parse(rest, { ...admin, limit: { type: 'string' } });
      if (values.help) return { kind: 'help' };
      noPositionals(name, positionals);
      const limit = values.limit === undefined ? 100 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        throw new UsageError(`reports: invalid --limit ${JSON.stringify(values.limit)} (1 to 500)`);
      }
      return { kind: name, limit, url: values.url, json: !!values.json, timeoutMs: timeout(values.timeout) };
    }
    case 'report': {
      const { values, positionals } = parse(rest, { ...admin, logs: { type: 'boolean' } });
      if (values.help) return { kind: 'help' };
      const [id, ...extra] = positionals;
      if (!id) throw new UsageError('report: missing <id> (see `matchmesh reports`)');
      noPositionals(name, extra);
      return {
        kind: name,
        id,
        logs: !!values.logs,
        url: values.url,
        json: !!values.json,
        timeoutMs: timeout(values.timeout),
      };
    }
    case 'undrain': {
      const drain = parseCommand(['drain', ...rest, '--undo']);
      return drain;
    }
    default: {
      let ops: ReturnType<typeof parseOpsCommand>;
      try {
        ops = parseOpsCommand(name, rest);
      } catch (err) {
        throw err instanceof OpsUsageError ? new UsageError(err.message) : err;
      }
      if (ops === 'help') return { kind: 'help' };
      if (ops) return ops;
      throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    }
  }
}

const KEYS_ACTIONS = ['list', 'rotate', 'retire'] as const;

function parseKeys(args: string[]): Command {
  const { values, positionals } = parse(args, admin);
  if (values.help) return { kind: 'help' };
  const [action = 'list', kid, ...extra] = positionals;
  const known = KEYS_ACTIONS.find((a) => a === action);
  if (!known) throw new UsageError(`keys: unknown action ${JSON.stringify(action)} (${KEYS_ACTIONS.join('|')})`);
  if (known === 'retire') {
    if (!kid) throw new UsageError('keys retire: missing <kid> (see `matchmesh keys list`)');
    if (!KeyId.safeParse(kid).success) throw new UsageError(`keys retire: invalid kid ${JSON.stringify(kid)}`);
    noPositionals('keys retire', extra);
  } else {
    noPositionals(`keys ${known}`, kid === undefined ? [] : [kid]);
  }
  return {
    kind: 'keys',
    action: known,
    kid: known === 'retire' ? kid : undefined,
    url: values.url,
    json: !!values.json,
    timeoutMs: timeout(values.timeout),
  };
}

function parseToken(args: string[]): Command {
  const { values, positionals } = parse(args, {
    ...common,
    role: { type: 'string' },
    stream: { type: 'string' },
    ttl: { type: 'string' },
    backup: { type: 'boolean' },
    once: { type: 'boolean' },
    sub: { type: 'string' },
  });
  if (values.help) return { kind: 'help' };
  noPositionals('token', positionals);
  if (!values.role) throw new UsageError(`token: --role is required (${Role.options.join('|')})`);
  const role = Role.safeParse(values.role);
  if (!role.success) {
    throw new UsageError(
      `token: invalid role ${JSON.stringify(values.role)}; expected one of ${Role.options.join(', ')}`,
    );
  }
  // Admin and node tokens are cluster-wide by nature; everyone else names a stream.
  // Cluster-wide roles default to every stream.
  const stream =
    values.stream ??
    (role.data === 'admin' || role.data === 'node' || role.data === 'metrics' ? ANY_STREAM : undefined);
  if (!stream) throw new UsageError('token: --stream <id|*> is required');
  if (stream !== ANY_STREAM && !StreamId.safeParse(stream).success) {
    throw new UsageError(`token: invalid stream ${JSON.stringify(stream)} (letters, digits, - and _, or *)`);
  }
  if (values.backup && role.data !== 'publisher') throw new UsageError('token: --backup is for publisher tokens only');
  if (values.once && !(SESSION_ROLES as readonly string[]).includes(role.data)) {
    throw new UsageError(`token: --once is for ${SESSION_ROLES.join(' and ')} links only (they open a session)`);
  }
  if (values.sub !== undefined && (values.sub.length < 1 || values.sub.length > 128)) {
    throw new UsageError('token: --sub must be 1-128 characters');
  }
  let ttlSeconds: number;
  try {
    ttlSeconds = parseTtl(values.ttl ?? '1h');
  } catch (err) {
    throw new UsageError(`token: ${err instanceof Error ? err.message : String(err)}`);
  }
  return {
    kind: 'token',
    role: role.data,
    stream,
    ttlSeconds,
    backup: !!values.backup,
    once: !!values.once,
    sub: values.sub,
    json: !!values.json,
  };
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    // node:util's first sentence is the useful one ("Unknown option '--rol'").
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(message.split(/\.\s/)[0] ?? message);
  }
}

function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(positionals[0])}`);
}

/** `drain --wait --poll <ms>`: how often the drain status is read (default 1000 ms). */
function pollMs(value: string | undefined): number {
  if (value === undefined) return 1000;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 10 || ms > 60_000) {
    throw new UsageError(`drain: invalid --poll ${JSON.stringify(value)} (milliseconds, 10 to 60000)`);
  }
  return ms;
}

function timeout(value: string | undefined): number {
  if (value === undefined) return 5_000;
  try {
    return parseTtl(value) * 1000;
  } catch {
    throw new UsageError(`invalid --timeout ${JSON.stringify(value)} (e.g. 5s)`);
  }
}
