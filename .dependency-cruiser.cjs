/**
 * The layering rule (`npm test` step "layering"; run alone with
 * `npx depcruise packages apps --config .dependency-cruiser.cjs`).
 *
 * Media (packages/sfu) and coordination (packages/cluster) know nothing of
 * each other; the protocol knows neither; the browser client knows no server
 * code; apps/node only wires packages together, so it reaches mediasoup and
 * Redis through them, never directly. Type-only imports count: a type from
 * a forbidden package is still a dependency on its shape.
 */

/** A path regex for the modules of these npm packages or workspaces, however they resolve. */
const mods = (...names) => {
  const alternatives = names.map((n) => {
    const workspace = /^@matchmesh\/(.+)$/.exec(n);
    // A workspace resolves through its node_modules symlink to packages/<name>/ (src/ by the
    // @matchmesh/source condition below); an npm package lives in some node_modules/.
    return workspace ? `packages/${workspace[1]}/|node_modules/${n}/` : `node_modules/${n}/`;
  });
  return `(^|/)(${alternatives.join('|')})`;
};

const rule = (name, comment, from, forbidden) => ({
  name,
  comment,
  severity: 'error',
  from: { path: `^${from}/` },
  to: { path: mods(...forbidden) },
});

module.exports = {
  forbidden: [
    rule('sfu-not-cluster', 'the media layer knows nothing of Redis or coordination', 'packages/sfu', [
      'ioredis',
      '@matchmesh/cluster',
    ]),
    rule('cluster-not-media', 'coordination knows nothing of mediasoup or the media layer', 'packages/cluster', [
      'mediasoup',
      '@matchmesh/sfu',
    ]),
    rule('protocol-is-a-leaf', 'the wire contract depends on no server package', 'packages/protocol', [
      'mediasoup',
      'ioredis',
      'fastify',
      '@matchmesh/sfu',
      '@matchmesh/cluster',
      '@matchmesh/mesh',
      '@matchmesh/hls',
      '@matchmesh/client',
    ]),
    rule(
      'client-not-server',
      'the browser client imports no server package (mediasoup-client is fine)',
      'packages/client',
      [
        'mediasoup',
        'ioredis',
        'fastify',
        '@fastify/[^/]+',
        '@matchmesh/sfu',
        '@matchmesh/cluster',
        '@matchmesh/mesh',
        '@matchmesh/hls',
      ],
    ),
    rule('hls-not-cluster', 'the HLS packager serves what this node holds; it knows nothing of Redis', 'packages/hls', [
      'ioredis',
      '@matchmesh/cluster',
    ]),
    rule(
      'mesh-through-narrow-seams',
      'the mesh reaches mediasoup only through packages/sfu and Redis only through packages/cluster',
      'packages/mesh',
      ['mediasoup', 'ioredis'],
    ),
    rule('node-only-wires', 'apps/node reaches mediasoup and Redis through the packages, never directly', 'apps/node', [
      'mediasoup',
      'ioredis',
    ]),
  ],
  options: {
    // Sources only: tests may join layers on purpose (a real node in a client test).
    exclude: { path: '(^|/)(dist|test|\\.tsbuild)/' },
    // npm packages stay in the graph as leaves (so the rules see them) but are not read.
    doNotFollow: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['@matchmesh/source', 'import', 'require', 'node', 'default'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.d.ts'],
      mainFields: ['types', 'module', 'main'],
    },
  },
};
