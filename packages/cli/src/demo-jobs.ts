import { defineJob, DiscardJob, RetryJob } from 'skiplock';

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });

/** Sends a (pretend) welcome e-mail. */
export const sendWelcome = defineJob<{ userId: string }>({
  name: 'demo.send-welcome',
  queue: 'mailers',
  async perform({ userId }, ctx) {
    await pause(100 + Math.random() * 400, ctx.signal);
    ctx.logger.info({ userId }, 'welcome e-mail sent');
  },
});

/** Calls a (pretend) flaky partner API: fails its first two attempts, then succeeds. */
export const syncPartner = defineJob<{ partner: string }>({
  name: 'demo.sync-partner',
  backoff: '2s',
  async perform({ partner }, ctx) {
    await pause(200, ctx.signal);
    if (ctx.attempt < 3)
      throw new RetryJob(`partner ${partner} answered 503 (attempt ${ctx.attempt})`, { waitMs: 2000 });
    ctx.logger.info({ partner }, 'partner synced');
  },
});

/** Builds a (pretend) nightly report: enqueued to run a few seconds from now. */
export const buildReport = defineJob<{ report: string }>({
  name: 'demo.build-report',
  priority: 5,
  async perform({ report }, ctx) {
    await pause(300, ctx.signal);
    ctx.logger.info({ report }, 'report built');
  },
});

/** Imports a file that does not exist: discarded after three attempts. */
export const importFile = defineJob<{ path: string }>({
  name: 'demo.import-file',
  maxAttempts: 3,
  backoff: '1s',
  perform({ path }, ctx) {
    if (ctx.attempt === 3) throw new DiscardJob(`${path} still missing after ${ctx.attempt} attempts`);
    throw new Error(`ENOENT: no such file ${path}`);
  },
});

/** Every demo definition. */
export const demoJobs = [sendWelcome, syncPartner, buildReport, importFile];
