import type { RelayAlternative, SignalingErrorCode } from '@matchmesh/protocol';

/** A refusal the peer gets as a typed error reply; the socket stays open. */
export class SignalingFailure extends Error {
  readonly code: SignalingErrorCode;
  /** A relay of the region with room ('full' only). */
  readonly alternative: RelayAlternative | undefined;
  constructor(code: SignalingErrorCode, message: string, alternative?: RelayAlternative) {
    super(message);
    this.code = code;
    this.alternative = alternative;
  }
}
