// MediaService lives in @matchmesh/sfu now. This re-export only keeps apps/node/src/mesh/MeshService.ts
// compiling until it moves to packages/mesh (issue 12, done in parallel); delete it with that move.
export { MediaService } from '@matchmesh/sfu';
