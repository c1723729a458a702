import type { LoginStyle } from '../store/schema';

/** The parts of an Access-Request the auth layer uses, already decoded by the protocol layer. */
export interface AuthRequest {
  readonly username: string;
  /** User-Password in clear (decrypted by the protocol layer); undefined when absent. */
  readonly password?: Buffer;
  /** State attribute echoed by the NAS after our Access-Challenge. */
  readonly state?: Buffer;
  /**
   * The Request Authenticator (16 bytes): with the client's name and the User-Name, what tells a NAS's
   * retransmission of this very request from a new one (see retransmission.ts).
   */
  readonly authenticator?: Buffer;
  readonly client: { readonly name: string; readonly address: string; readonly loginStyle: LoginStyle };
  readonly nasIdentifier?: string;
  readonly callingStationId?: string;
}
