// Console errors of pages the fixtures do not watch: pages of a second
// browser context (fixtures.ts watches the test's own page only).
import type { Page } from '@playwright/test';

/** Collects the console errors and uncaught exceptions of page. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}
