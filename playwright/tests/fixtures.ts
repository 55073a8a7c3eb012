// Shared fixtures for Duet's browser tests. Import `test` and `expect` from
// here instead of '@playwright/test': every test then fails when its page
// logged a console error or threw an uncaught exception, unless the test
// declares the errors it expects:
//
//   test.use({ allowedConsoleErrors: [/WebSocket connection .* failed/] });
import { test as base, expect } from '@playwright/test';

type Options = {
  /** Console errors matching one of these do not fail the test. */
  allowedConsoleErrors: RegExp[];
};

type Fixtures = {
  /** Console errors and uncaught exceptions the page produced so far. */
  consoleErrors: string[];
};

export const test = base.extend<Options & Fixtures>({
  allowedConsoleErrors: [[], { option: true }],

  consoleErrors: [
    async ({ page, allowedConsoleErrors }, use, testInfo) => {
      const errors: string[] = [];
      page.on('console', (msg) => {
        if (msg.type() !== 'error') return;
        const { url, lineNumber } = msg.location();
        errors.push(`console.error: ${msg.text()}${url ? ` (${url}:${lineNumber})` : ''}`);
      });
      page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));

      await use(errors);

      // A test that already failed has reported enough.
      if (testInfo.status !== testInfo.expectedStatus) return;
      const unexpected = errors.filter((e) => !allowedConsoleErrors.some((re) => re.test(e)));
      expect(unexpected, 'console errors or uncaught exceptions on the page').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
