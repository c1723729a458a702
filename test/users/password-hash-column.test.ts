import { readUserCsv } from '../../src/users/import';

/*
 * The CSV's password column holds a password in clear or an argon2 PHC string. A hash of another kind (bcrypt or
 * sha512-crypt from the system being left, or an argon2 string cut short) was taken as the password itself: the
 * import succeeded and the user's password became the text of their old hash. Now the file imports nothing and the
 * line is named, never the value.
 */

const HEADER = 'username,password,method,token_serial\n';
const read = (password: string) => readUserCsv(`${HEADER}alice,"${password}",,\n`, ['password', 'token']);

// [what, the password column]
const refused: [string, string][] = [
  ['bcrypt', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW'],
  ['sha512-crypt', '$6$rounds=5000$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.'],
  ['md5-crypt', '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/'],
  ['yescrypt', '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7'],
  ['scrypt', '$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E'],
  ['an argon2 string cut short', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ'],
];
test.each(refused)('%s: refused, naming the line and not the value', (_what, password) => {
  let message = '';
  try {
    read(password);
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message).toMatch(/^line 2: the password is a hash radotp cannot check/);
  expect(message).not.toContain(password);
});

// [what, the password column]
const taken: [string, string][] = [
  ['an argon2id PHC string', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g'],
  ['a clear password with dollars', '$money$2024'],
  ['a clear password', 'correct horse battery staple'],
];
test.each(taken)('%s: taken', (_what, password) => {
  expect(read(password)[0]!.password).toBe(password);
});
