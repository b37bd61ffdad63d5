int matchmesh_stub_libssl;
