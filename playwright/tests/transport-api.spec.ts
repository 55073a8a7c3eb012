// The connection object's small print: the functions that subscribe() and
// on() return may be called more than once (component cleanups do), and a
// handler removed by them hears nothing more.
import { test, expect } from './fixtures';

test('unsubscribe and off functions are idempotent', async ({ page }) => {
  await page.goto('/');
  const result = await page.evaluate(async () => {
    const Duet = await (await import('/duet.js' as string)).loadDuet();
    const conn = Duet.connect('', { transport: 'websocket', shared: false });
    const heard: string[] = [];
    const unsub = conn.subscribe('api-idem', (m: any) => heard.push('sub ' + m.data));
    const off = conn.on('message', (m: any) => heard.push('on ' + m.data));
    await conn.publish('api-idem', 1);
    for (let i = 0; i < 50 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    unsub();
    unsub(); // second call: a no-op, not "call to released function"
    off();
    off();
    await conn.publish('api-idem', 2);
    await new Promise((r) => setTimeout(r, 500));
    conn.close();
    return heard.sort();
  });
  expect(result).toEqual(['on 1', 'sub 1']);
});
