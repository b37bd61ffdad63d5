import type { RelayAlternative, SignalingErrorCode } from '@matchmesh/protocol';

/** Base class of every error the signaling client rejects a request with. */
export class SignalingClientError extends Error {
  override name = 'SignalingClientError';
}

/** The server answered the request with `{ok: false, error}`. */
export class SignalingRequestError extends SignalingClientError {
  override name = 'SignalingRequestError';
  constructor(
    readonly method: string,
    readonly code: SignalingErrorCode,
    message: string,
    /** With 'full': a relay of the same region the node says has room. */
    readonly alternative?: RelayAlternative,
  ) {
    super(`${method}: ${code}: ${message}`);
  }
}

/** No response arrived within the request's timeout. */
export class SignalingTimeoutError extends SignalingClientError {
  override name = 'SignalingTimeoutError';
  constructor(
    readonly method: string,
    readonly timeoutMs: number,
  ) {
    super(`${method}: no response within ${timeoutMs} ms`);
  }
}

/** The socket is not open, failed to open, or closed while the request was pending. */
export class SignalingClosedError extends SignalingClientError {
  override name = 'SignalingClosedError';
  constructor(
    message: string,
    readonly closeCode?: number,
  ) {
    super(message);
  }
}

/** The server's response did not match the protocol schema for the method. */
export class SignalingProtocolError extends SignalingClientError {
  override name = 'SignalingProtocolError';
  constructor(
    readonly method: string,
    message: string,
  ) {
    super(`${method}: malformed response: ${message}`);
  }
}
