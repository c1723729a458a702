import os from 'node:os';
import { adminName } from '../../cli/context';

// Who an admin row of the audit trail names: the login behind sudo, else the account that ran the command.
const account = os.userInfo().username;
const cases: [string, NodeJS.ProcessEnv, string][] = [
  ['no sudo: the account', {}, account],
  ['sudo by alice', { SUDO_USER: 'alice' }, 'alice via sudo'],
  ['sudo to oneself: just the account', { SUDO_USER: account }, account],
  ['an empty SUDO_USER is no sudo', { SUDO_USER: '' }, account],
];

test.each(cases)('%s', (_case, env, name) => {
  expect(adminName(env)).toBe(name);
});
