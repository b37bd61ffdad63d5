/**
 * @matchmesh/cli — the `matchmesh` ops CLI, plus the token functions the node
 * server reuses to verify what the CLI signs.
 */
export { AdminClient, type AdminClientOptions, ApiError, type ApiResult } from './api.ts';
export { type Command, parseCommand, USAGE, UsageError } from './args.ts';
export {
  type CliIo,
  EXIT_FAILURE,
  EXIT_NOT_FOUND,
  EXIT_OK,
  EXIT_UNAUTHORIZED,
  EXIT_UNAVAILABLE,
  EXIT_USAGE,
  exitCodeOf,
  run,
} from './cli.ts';
export {
  DEV_SECRET_PATH,
  findRepoRoot,
  loadDevSecret,
  MIN_SECRET_LENGTH,
  parseTtl,
  resolveSecret,
  resolveSigningKey,
  SecretError,
  signToken,
  TokenError,
  verifyToken,
} from './tokens.ts';
