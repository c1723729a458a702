import type { LoginStyle } from '../store/schema';

/** The parts of an Access-Request the auth layer uses, already decoded by the protocol layer. */
export interface AuthRequest {
  readonly username: string;
  /** User-Password in clear (decrypted by the protocol layer); undefined when absent. */
  readonly password?: Buffer;
  /** State attribute echoed by the NAS after our Access-Challenge. */
  readonly state?: Buffer;
  readonly client: { readonly name: string; readonly address: string; readonly loginStyle: LoginStyle };
  readonly nasIdentifier?: string;
  readonly callingStationId?: string;
}
