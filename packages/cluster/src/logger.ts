// One Logger interface for every package: see @matchmesh/protocol's logger.ts.
export { type Logger, silentLogger } from '@matchmesh/protocol';
