// The https project's certificate (self-signed, for localhost, 127.0.0.1
// and ::1), made by `go tool task tls:cert` or playwright.config.ts, and how
// a test tells which project it runs in.
import * as path from 'node:path';
import type { TestInfo } from '@playwright/test';

export const certFile = path.resolve(__dirname, '..', '..', 'bin', 'tls', 'cert.pem');
export const keyFile = path.resolve(__dirname, '..', '..', 'bin', 'tls', 'key.pem');

/** Whether the test runs in the https project (HTTPS with HTTP/2). */
export const overHTTPS = (info: TestInfo) => String(info.project.use.baseURL ?? '').startsWith('https:');
