// summary-reporter prints one closing line, "playwright: N passed, N failed,
// N skipped", counted by each test's final outcome (a test that passed on a
// retry is "passed", and also named as flaky).
import type { FullConfig, FullResult, Reporter, Suite } from '@playwright/test/reporter';

export default class SummaryReporter implements Reporter {
  private suite?: Suite;

  printsToStdio(): boolean {
    return false;
  }

  onBegin(_config: FullConfig, suite: Suite): void {
    this.suite = suite;
  }

  async onExit(): Promise<void> {
    // onExit runs after every reporter's onEnd, so this line comes last.
    if (this.summary) console.log(this.summary);
  }

  private summary = '';

  onEnd(result: FullResult): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const flaky: string[] = [];
    for (const test of this.suite?.allTests() ?? []) {
      switch (test.outcome()) {
        case 'expected':
          passed++;
          break;
        case 'flaky':
          passed++;
          flaky.push(test.titlePath().slice(1).join(' › '));
          break;
        case 'unexpected':
          failed++;
          break;
        case 'skipped':
          skipped++;
          break;
      }
    }
    const lines: string[] = [];
    for (const title of flaky) lines.push(`playwright: flaky (passed on retry): ${title}`);
    if (result.status !== 'passed') lines.push(`playwright: run ${result.status}`);
    lines.push(`playwright: ${passed} passed, ${failed} failed, ${skipped} skipped`);
    this.summary = lines.join('\n');
  }
}
