import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

/** The node the dev server proxies to (`npm run dev -w @matchmesh/web`). */
const node = process.env.MATCHMESH_NODE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  // Bundle the workspace packages from their TypeScript sources, not their compiled dist/.
  resolve: { conditions: ['@matchmesh/source', ...defaultClientConditions] },
  build: {
    // apps/web/dist, served statically at `/` by the node server.
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    rolldownOptions: {
      output: {
        // Long-lived vendor chunks: app changes do not bust the big, stable libraries.
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/ },
            // Loaded only when a viewer falls back to HLS (dynamic import in @matchmesh/client).
            { name: 'hls', test: /node_modules[\\/]hls\.js[\\/]/ },
            { name: 'webrtc', test: /node_modules[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      '/ws': { target: node, ws: true },
      '/whip': node,
      '/whep': node,
      '/api': node,
      '/hls': node,
    },
  },
});
