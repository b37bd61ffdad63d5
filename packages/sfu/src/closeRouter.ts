import type { types } from 'mediasoup';

/**
 * mediasoup 3.27 keeps a WebRtcTransport in its WebRtcServer's table until the
 * transport itself is closed: when the *router* is closed, the transport only
 * gets `routerClosed()`, which does not tell the server, and the server (which
 * lives as long as the worker) holds the dead transport and its router
 * forever. Found by the soak test (~1,200 leaked routers after ~5,000 WHEP
 * sessions). So every router is closed through `closeRouter()`, which closes
 * its WebRtcTransports first.
 */
const webRtcTransports = new WeakMap<types.Router, Set<types.Transport>>();

/** Follow every router of `worker` so `closeRouter()` knows its WebRtcTransports. */
export function trackWebRtcTransports(worker: types.Worker): void {
  worker.observer.on('newrouter', (router) => {
    const transports = new Set<types.Transport>();
    webRtcTransports.set(router, transports);
    router.observer.on('newtransport', (transport) => {
      if (transport.type !== 'webrtc') return;
      transports.add(transport);
      transport.observer.once('close', () => transports.delete(transport));
    });
  });
}

/** Close a router so that nothing of it stays referenced by the worker's WebRtcServer. */
export function closeRouter(router: types.Router): void {
  for (const transport of webRtcTransports.get(router) ?? []) transport.close();
  router.close();
}
