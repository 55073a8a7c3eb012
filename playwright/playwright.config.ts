// Playwright drives Debian's Chromium (/usr/bin/chromium) against bin/duet.
// Playwright cannot download its own browsers on the project's machines, so
// `go tool task test` installs the Debian package and this config points at it.
//
// Environment:
//   DUET_E2E_PORT     loopback port for the server under test (default 18080)
//   DUET_E2E_TLS_PORT loopback port for the https project's server: HTTPS with
//                     HTTP/2 and the certificate in ../bin/tls (default DUET_E2E_PORT+1000)
//   DUET_BIN          server binary (default ../bin/duet, built by `go tool task build`)
//   DUET_CHROMIUM     browser executable (default /usr/bin/chromium when present)
//   DUET_E2E_WORKERS  parallel workers (default 2, 1 under CI)
//   CI                set by CI: no reuse of a running server, no test.only
//   DUET_E2E_STRICT   the same without CI (set by .ci/e2e.sh, which `go tool
//                     task test` runs on a free port)
import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { certFile, keyFile } from './tests/tls';

const ci = !!process.env.CI;
// Strict: test.only fails the run and the server is always Playwright's own.
const strict = ci || process.env.DUET_E2E_STRICT === '1';
const port = Number(process.env.DUET_E2E_PORT || 18080);
const baseURL = `http://127.0.0.1:${port}`;
const tlsPort = Number(process.env.DUET_E2E_TLS_PORT || port + 1000);
const tlsBaseURL = `https://127.0.0.1:${tlsPort}`;
const serverBin = path.resolve(__dirname, process.env.DUET_BIN || '../bin/duet');
const chromium = process.env.DUET_CHROMIUM || '/usr/bin/chromium';

if (!fs.existsSync(serverBin)) {
  throw new Error(`${serverBin} not found: build it with \`go tool task build\` (\`go tool task e2e\` does both)`);
}
// The https project's certificate: self-signed, for localhost and
// 127.0.0.1, made by `go tool task tls:cert` (here too when it is missing).
if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
  execFileSync('go', ['run', './server/cmd/duet/internal/gencert', '-dir', path.dirname(certFile)], {
    cwd: path.resolve(__dirname, '..'),
    stdio: 'inherit',
  });
}
// Node's fetch in the workers (publishing, metrics) trusts it too; the
// browser is told to ignore certificate errors instead.
process.env.NODE_EXTRA_CA_CERTS = certFile;

export default defineConfig({
  testDir: './tests',
  // Screenshots and traces of failed tests land here (CI artifacts).
  outputDir: './test-results',

  // Every wait is bounded: per test, per expect, per action and navigation,
  // the server start, and the whole run.
  timeout: 30_000,
  expect: { timeout: 5_000 },
  globalTimeout: 30 * 60_000,

  fullyParallel: true,
  forbidOnly: strict,
  retries: 0,
  // Two cores run the server, the browsers and the runner.
  workers: Number(process.env.DUET_E2E_WORKERS) || (ci ? 1 : 2),

  reporter: [
    ['list'],
    ['html', { open: 'never', outputFolder: 'playwright-report' }],
    // Last, so its "N passed, N failed" line closes the output.
    ['./summary-reporter.ts'],
  ],

  use: {
    baseURL,
    browserName: 'chromium',
    headless: true,
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: fs.existsSync(chromium) ? chromium : undefined,
      // --no-sandbox: CI runs as root. The network flags keep Chromium from
      // calling home over a network that is closed here.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },

  projects: [
    { name: 'http', use: { baseURL } },
    // The transport and demo suites again over HTTPS with HTTP/2 (ALPN h2),
    // as most production users meet Duet; WebSockets take HTTP/1.1 there.
    {
      name: 'https',
      use: { baseURL: tlsBaseURL, ignoreHTTPSErrors: true },
      testMatch: ['transport-wires.spec.ts', 'transport-tabs.spec.ts', 'demo-lab.spec.ts', 'http2.spec.ts'],
    },
  ],

  webServer: [
    {
      command: `"${serverBin}" -addr 127.0.0.1:${port}`,
      url: `${baseURL}/rt/healthz`,
      reuseExistingServer: !strict,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
    },
    {
      command: `"${serverBin}" -addr 127.0.0.1:${tlsPort} -tls-cert "${certFile}" -tls-key "${keyFile}"`,
      url: `${tlsBaseURL}/rt/healthz`,
      ignoreHTTPSErrors: true,
      reuseExistingServer: !strict,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
    },
  ],
});
