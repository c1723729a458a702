export { Md5 } from './md5';
export { Sha1 } from './sha1';
export { Sha256 } from './sha256';
export { Hmac } from './hmac';
