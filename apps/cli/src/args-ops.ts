import { parseArgs } from 'node:util';
import { StreamId } from '@matchmesh/protocol';
import { parseTtl } from './tokens.ts';

/** The ops console's commands (issue 17): listings, actions, the live view, shell completion. */
export type OpsCommand =
  | { kind: 'program'; stream: string; url: string | undefined; json: boolean; timeoutMs: number }
  | { kind: 'booth'; stream: string; url: string | undefined; json: boolean; timeoutMs: number }
  | { kind: 'pipes'; cluster: boolean; url: string | undefined; json: boolean; timeoutMs: number }
  | { kind: 'publishers-drop'; stream: string; url: string | undefined; json: boolean; timeoutMs: number }
  | {
      kind: 'events';
      limit: number;
      follow: boolean;
      url: string | undefined;
      json: boolean;
      timeoutMs: number;
    }
  | { kind: 'top'; once: boolean; url: string | undefined; json: boolean; timeoutMs: number }
  | { kind: 'completion'; shell: 'bash' | 'zsh' };

export const OPS_USAGE = `  matchmesh undrain <nodeId> [--url <node-url>] [--json]              same as drain --undo
  matchmesh program <stream> [--url <node-url>] [--json]   the feed on air on that node, its sources, last switch
  matchmesh booth <stream> [--url <ingest-url>] [--json]   the stream's commentators on air: language, level, loss, RTT
  matchmesh pipes [--cluster] [--url <node-url>] [--json]  that node's pipes (--cluster: every node's) with RTT, loss, dual-path share
  matchmesh publishers drop <stream> [--url <node-url>] [--json]   drop the stream's WHIP sessions there
  matchmesh events [--limit 50] [--follow] [--url <node-url>] [--json]   the cluster's events feed
  matchmesh top [--once] [--url <node-url>] [--json]       live view: regions, nodes, streams, events (q/Ctrl-C quits)
  matchmesh completion bash|zsh                            print a shell completion script`;

/** Every command and its options, for help and completion. */
export const COMMANDS: Record<string, string[]> = {
  token: ['--role', '--stream', '--ttl', '--backup', '--sub', '--json'],
  nodes: ['--url', '--timeout', '--json'],
  streams: ['--url', '--timeout', '--json'],
  drain: ['--force', '--wait', '--timeout', '--poll', '--undo', '--url', '--json'],
  undrain: ['--url', '--timeout', '--json'],
  'scale-advice': ['--headroom', '--region', '--url', '--timeout', '--json'],
  program: ['--url', '--timeout', '--json'],
  booth: ['--url', '--timeout', '--json'],
  pipes: ['--cluster', '--url', '--timeout', '--json'],
  publishers: ['drop', '--url', '--timeout', '--json'],
  events: ['--limit', '--follow', '--url', '--timeout', '--json'],
  top: ['--once', '--url', '--timeout', '--json'],
  completion: ['bash', 'zsh'],
  help: [],
};

/** Raised for a bad command line (the caller turns it into its UsageError). */
export class OpsUsageError extends Error {}

const admin = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  url: { type: 'string' },
  timeout: { type: 'string' },
} as const;

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/**
 * The ops commands' argv → a command; 'help' for `--help`; undefined when
 * `name` is not one of them.
 */
export function parseOpsCommand(name: string, args: string[]): OpsCommand | 'help' | undefined {
  switch (name) {
    case 'program': {
      const { values, positionals } = parse(args, admin);
      if (values.help) return 'help';
      const stream = oneStream(name, positionals);
      return { kind: 'program', stream, ...common(values) };
    }
    case 'booth': {
      const { values, positionals } = parse(args, admin);
      if (values.help) return 'help';
      return { kind: 'booth', stream: oneStream(name, positionals), ...common(values) };
    }
    case 'pipes': {
      const { values, positionals } = parse(args, { ...admin, cluster: { type: 'boolean' } });
      if (values.help) return 'help';
      none(name, positionals);
      return { kind: 'pipes', cluster: values.cluster === true, ...common(values) };
    }
    case 'publishers': {
      const { values, positionals } = parse(args, admin);
      if (values.help) return 'help';
      const [action, ...rest] = positionals;
      if (action !== 'drop') throw new OpsUsageError('publishers: expected `publishers drop <stream>`');
      return { kind: 'publishers-drop', stream: oneStream('publishers drop', rest), ...common(values) };
    }
    case 'events': {
      const { values, positionals } = parse(args, {
        ...admin,
        limit: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
      });
      if (values.help) return 'help';
      none(name, positionals);
      const limit = values.limit === undefined ? 50 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new OpsUsageError(`events: invalid --limit ${JSON.stringify(values.limit)} (1 to 1000)`);
      }
      return { kind: 'events', limit, follow: !!values.follow, ...common(values) };
    }
    case 'top': {
      const { values, positionals } = parse(args, { ...admin, once: { type: 'boolean' } });
      if (values.help) return 'help';
      none(name, positionals);
      if (values.json && !values.once) throw new OpsUsageError('top: --json needs --once (one frame as JSON)');
      return { kind: 'top', once: !!values.once, ...common(values) };
    }
    case 'completion': {
      const { values, positionals } = parse(args, { help: { type: 'boolean', short: 'h' } });
      if (values.help) return 'help';
      const [shell, ...extra] = positionals;
      if (shell !== 'bash' && shell !== 'zsh')
        throw new OpsUsageError('completion: expected `completion bash` or `completion zsh`');
      none(name, extra);
      return { kind: 'completion', shell };
    }
    default:
      return undefined;
  }
}

function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new OpsUsageError(message.split(/\.\s/)[0] ?? message);
  }
}

function common(values: { url?: string | boolean; json?: string | boolean; timeout?: string | boolean }) {
  return {
    url: typeof values.url === 'string' ? values.url : undefined,
    json: values.json === true,
    timeoutMs: timeout(typeof values.timeout === 'string' ? values.timeout : undefined),
  };
}

function oneStream(command: string, positionals: string[]): string {
  const [stream, ...extra] = positionals;
  if (!stream) throw new OpsUsageError(`${command}: missing <stream>`);
  if (!StreamId.safeParse(stream).success) {
    throw new OpsUsageError(`${command}: invalid stream ${JSON.stringify(stream)} (letters, digits, - and _)`);
  }
  none(command, extra);
  return stream;
}

function none(command: string, positionals: string[]): void {
  if (positionals.length > 0)
    throw new OpsUsageError(`${command}: unexpected argument ${JSON.stringify(positionals[0])}`);
}

function timeout(value: string | undefined): number {
  if (value === undefined) return 5_000;
  try {
    return parseTtl(value) * 1000;
  } catch {
    throw new OpsUsageError(`invalid --timeout ${JSON.stringify(value)} (e.g. 5s)`);
  }
}
