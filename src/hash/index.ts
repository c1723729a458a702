export { Md5 } from './md5';
export { Sha1 } from './sha1';
export { Hmac } from './hmac';
