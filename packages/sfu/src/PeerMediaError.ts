/** Why PeerMedia refused a request: the signaling layer turns the code into its typed error reply. */
export type PeerMediaErrorCode = 'conflict' | 'not_found' | 'bad_request';

export class PeerMediaError extends Error {
  readonly code: PeerMediaErrorCode;
  constructor(code: PeerMediaErrorCode, message: string) {
    super(message);
    this.name = 'PeerMediaError';
    this.code = code;
  }
}
