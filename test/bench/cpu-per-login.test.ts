import { cpuPerLogin, describeCpuPerLogin } from '../../bench/lib/cpu-per-login';

// CPU shares (% of one CPU over a round) and the accepted logins a second -> µs of CPU a login.
const cases = [
  {
    name: 'the anchor: server and loadgen',
    rate: 43_000,
    shares: { server: 99, loadgen: 80 },
    perLogin: { server_us: 23, loadgen_us: 18.6, machine_us: 41.6 },
    line: 'server 23 + loadgen 19 = 42 µs',
  },
  {
    name: 'radotp: PostgreSQL counts toward the machine',
    rate: 18_000,
    shares: { server: 63, postgres: 39, loadgen: 45 },
    perLogin: { server_us: 35, postgres_us: 21.7, loadgen_us: 25, machine_us: 81.7 },
    line: 'server 35 + PostgreSQL 22 + loadgen 25 = 82 µs',
  },
  {
    name: "PostgreSQL's share unknown: left out, not counted as nothing",
    rate: 10_000,
    shares: { server: 50, postgres: NaN, loadgen: 20 },
    perLogin: { server_us: 50, loadgen_us: 20, machine_us: 70 },
    line: 'server 50 + loadgen 20 = 70 µs',
  },
];

test.each(cases)('$name', ({ rate, shares, perLogin, line }) => {
  const c = cpuPerLogin(rate, shares);
  expect(c).toEqual(perLogin);
  expect(describeCpuPerLogin(c!)).toBe(line);
});

test.each([
  { name: 'no login accepted', rate: 0, shares: { server: 50, loadgen: 20 } },
  { name: "the server's CPU unread", rate: 1000, shares: { server: NaN, loadgen: 20 } },
  { name: "loadgen's CPU unread", rate: 1000, shares: { server: 50, loadgen: NaN } },
])('nothing to tell: $name', ({ rate, shares }) => {
  expect(cpuPerLogin(rate, shares)).toBeUndefined();
});
