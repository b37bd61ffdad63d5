/* Intentionally empty stand-in object (matchmesh worker-build recipe). */
int matchmesh_stub_libuv;
