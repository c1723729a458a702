import type { ClientData } from '../../src/auth/radius-handler';
import { Attr, Code, type IncomingRequest, type RawAttribute } from '../../src/radius/types';
import type { LoginStyle } from '../../src/store/schema';

/**
 * An Access-Request as the RADIUS layer hands it to createRadiusHandler: already verified, from client `client`
 * of login style `loginStyle`, its User-Password decoded (`password`; absent: none, a CHAP or EAP request).
 * `attributes` defaults to a User-Name of alice.
 */
export function handlerRequest(opts: {
  loginStyle: LoginStyle;
  password?: string;
  attributes?: RawAttribute[];
  client?: string;
}): IncomingRequest<ClientData> {
  return {
    packet: {
      code: Code.AccessRequest,
      identifier: 1,
      authenticator: Buffer.alloc(16),
      attributes: opts.attributes ?? [{ type: Attr.UserName, value: Buffer.from('alice') }],
    },
    client: { name: opts.client ?? 'nas', data: { loginStyle: opts.loginStyle } },
    remote: { address: '127.0.0.1', port: 1 },
    ...(opts.password === undefined ? {} : { password: Buffer.from(opts.password) }),
  } as unknown as IncomingRequest<ClientData>;
}
