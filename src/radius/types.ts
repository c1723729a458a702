/**
 * Shared shapes of the RADIUS layer. This layer knows nothing of users, OTPs or storage:
 * it turns datagrams into packets, packets into calls of a `RequestHandler`, and the handler's
 * answer back into a signed datagram.
 */

/** RFC 2865 §3 / RFC 5997 packet codes this server deals with. */
export const Code = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
} as const;
export type CodeValue = (typeof Code)[keyof typeof Code];

/** Attribute numbers the protocol layer itself must know (RFC 2865 §5, RFC 3579 §3.2). */
export const Attr = {
  UserName: 1,
  UserPassword: 2,
  ChapPassword: 3,
  NasIpAddress: 4,
  NasPort: 5,
  ReplyMessage: 18,
  SessionTimeout: 27,
  State: 24,
  Class: 25,
  VendorSpecific: 26,
  CalledStationId: 30,
  CallingStationId: 31,
  NasIdentifier: 32,
  ProxyState: 33,
  ArapPassword: 70,
  EapMessage: 79,
  MessageAuthenticator: 80,
  NasIpv6Address: 95,
} as const;

/** One attribute as it is on the wire: type byte and raw value (VSAs stay type 26 with their raw value). */
export interface RawAttribute {
  readonly type: number;
  readonly value: Buffer;
}

/** A structurally valid packet (lengths checked); its authenticators are not checked yet. */
export interface Packet {
  readonly code: number;
  readonly identifier: number;
  /** 16 bytes: Request Authenticator for requests. */
  readonly authenticator: Buffer;
  /** In wire order. */
  readonly attributes: readonly RawAttribute[];
  /** The datagram exactly as received (needed to verify Message-Authenticator). */
  readonly raw: Buffer;
}

/** Why a datagram was dropped; used as a metric label, so keep the set small and stable. */
export type DropReason =
  | 'too_short'
  | 'too_long'
  | 'length_mismatch'
  | 'attribute_overrun'
  | 'attribute_too_short'
  | 'unsupported_code'
  | 'unknown_client'
  | 'missing_message_authenticator'
  | 'bad_message_authenticator'
  | 'bad_password_field'
  | 'password_not_text'
  | 'repeated_attribute'
  | 'pap_and_chap'
  | 'mixed_credentials'
  | 'duplicate_in_progress'
  | 'overload'
  | 'handler_fail'
  | 'reply_too_large'
  | 'not_ready'
  | 'shutting_down'
  /** An unexpected exception (a bug) while handling the datagram or answering the request. */
  | 'internal_error';

export type DecodeResult = { ok: true; packet: Packet } | { ok: false; reason: DropReason };

/** What the auth layer answers; `null` from the handler means "send nothing" (e.g. database down). */
export interface Reply {
  readonly code: typeof Code.AccessAccept | typeof Code.AccessReject | typeof Code.AccessChallenge;
  /** Reply attributes in order, without Message-Authenticator and Proxy-State (the server adds those). */
  readonly attributes: readonly RawAttribute[];
}

/** A RADIUS client (NAS) as the protocol layer needs it. `data` is opaque to this layer. */
export interface ClientEntry<T = unknown> {
  readonly name: string;
  /** CIDR, IPv4 or IPv6, e.g. "10.0.0.0/8", "::1/128". */
  readonly cidr: string;
  readonly secret: Buffer;
  readonly requireMessageAuthenticator: boolean;
  /**
   * Not required up front, but from a source address once an Access-Request from it carried a valid one (FreeRADIUS's
   * require_message_authenticator = auto): a NAS that learns to sign is held to it. See RadiusServer for what teaches it.
   */
  readonly learnMessageAuthenticator?: boolean;
  /** Whether replies always carry a Message-Authenticator (default), or only when the request did. */
  readonly replyMessageAuthenticator?: ReplyMessageAuthenticator;
  readonly data?: T;
}

/**
 * `always`: every reply carries a Message-Authenticator, first (the Blast-RADIUS defence, CVE-2024-3596).
 * `if-requested`: only replies to requests that carried one, for a NAS that drops any reply holding it
 * (FreeRADIUS's ChangeLog names Check Point) and sends none itself. RFC 2869 §5.14 lets a server leave
 * it out; such a NAS cannot tell a forged reply anyway, and one that sends it still gets it back.
 */
export type ReplyMessageAuthenticator = 'always' | 'if-requested';
export const REPLY_MESSAGE_AUTHENTICATOR_CHOICES: readonly ReplyMessageAuthenticator[] = ['always', 'if-requested'];

export interface IncomingRequest<T = unknown> {
  readonly packet: Packet;
  readonly client: ClientEntry<T>;
  readonly remote: { readonly address: string; readonly port: number };
  /** User-Password decrypted with the client's secret (RFC 2865 §5.2), padding removed; undefined if absent. */
  readonly password?: Buffer;
}

/**
 * The reply, or null to send nothing. A plain value when the handler decided without waiting: the
 * server answers at once, without a trip through the microtask queue.
 */
export type RequestHandler<T = unknown> = (req: IncomingRequest<T>) => Reply | null | Promise<Reply | null>;
