// Command-line flags and the sizes each mode (full, --quick, --tiny) measures with.

export const SCENARIOS = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6'];

export const USAGE = `Usage: pnpm bench [--quick | --tiny] [--only S1,S3] [--runs N]

Runs issue 6's scenarios on Skiplock, graphile-worker, pg-boss and a raw SQL floor (S1 and S2 with
the systems side by side in interleaved blocks, the others alternating run by run) and prints a
Markdown report; a full run of every scenario also writes scripts/bench/RESULTS.md. DATABASE_URL
picks the database (postgres://postgres@127.0.0.1:5432/test).

  --quick        smaller N, under 2 minutes (not comparable with a full run)
  --tiny         CI's smoke test: a few jobs, one run
  --only LIST    some scenarios, comma-separated (${SCENARIOS.join(', ')})
  --runs N       runs per scenario (3; --tiny: 1)
  -h, --help     this text
`;

/**
 * What a run measures with. `s1WarmUp`: lone enqueues before S1 is timed, and as many again from its
 * producers; `s1Rounds`: the blocks each system's S1 jobs are timed in, interleaved with the other
 * systems' blocks; `s3WarmUp`: the backlog each system drains, untimed, before S3's sweep and timed
 * runs; `s5WarmUp`: the backlog S5's processes drain before the timed one.
 * @typedef {{
 *   mode: 'full' | 'quick' | 'tiny', runs: number, only: string[], databaseUrl: string,
 *   s1Jobs: number, s1WarmUp: number, s1Rounds: number, s1Producers: number, s2Jobs: number, s2Chunk: number,
 *   s3Jobs: number, s3WarmUp: number, s4Samples: number, s5Jobs: number, s5WarmUp: number, s6Finished: number,
 *   s6Scheduled: number, s6Samples: number, s3Sweep: boolean,
 * }} Config
 */

const SIZES = {
  full: {
    s1Jobs: 5000,
    s1WarmUp: 1500,
    s1Rounds: 10,
    s2Jobs: 100_000,
    s2Chunk: 10_000,
    s3Jobs: 50_000,
    s3WarmUp: 50_000,
    s4Samples: 200,
    s5Jobs: 50_000,
    s5WarmUp: 50_000,
    s6Finished: 1_000_000,
    s6Scheduled: 1_000_000,
    s6Samples: 300,
    s3Sweep: true,
  },
  quick: {
    s1Jobs: 300,
    s1WarmUp: 200,
    s1Rounds: 3,
    s2Jobs: 20_000,
    s2Chunk: 10_000,
    s3Jobs: 10_000,
    s3WarmUp: 5_000,
    s4Samples: 30,
    s5Jobs: 5_000,
    s5WarmUp: 1_000,
    s6Finished: 30_000,
    s6Scheduled: 30_000,
    s6Samples: 20,
    s3Sweep: false,
  },
  tiny: {
    s1Jobs: 20,
    s1WarmUp: 20,
    s1Rounds: 2,
    s2Jobs: 200,
    s2Chunk: 100,
    s3Jobs: 200,
    s3WarmUp: 0,
    s4Samples: 5,
    s5Jobs: 200,
    s5WarmUp: 40,
    s6Finished: 1000,
    s6Scheduled: 1000,
    s6Samples: 10,
    s3Sweep: false,
  },
};

/** @param {string[]} argv @returns {Config} */
export function parseArgs(argv) {
  /** @type {'full' | 'quick' | 'tiny'} */
  let mode = 'full';
  let runs;
  let only = SCENARIOS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') continue;
    else if (arg === '--quick') mode = 'quick';
    else if (arg === '--tiny') mode = 'tiny';
    else if (arg === '--runs') runs = Number(argv[++i]);
    else if (arg?.startsWith('--runs=')) runs = Number(arg.slice(7));
    else if (arg === '--only') only = parseOnly(argv[++i]);
    else if (arg?.startsWith('--only=')) only = parseOnly(arg.slice(7));
    else throw new Error(`bench: unknown argument ${arg} (use --quick, --tiny, --only S1,S3, --runs N)`);
  }
  runs ??= mode === 'tiny' ? 1 : 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error('bench: --runs takes a positive integer');
  return {
    mode,
    runs,
    only,
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    s1Producers: 10,
    ...SIZES[mode],
  };
}

/** @param {string | undefined} list */
function parseOnly(list) {
  const ids = (list ?? '')
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const unknown = ids.filter((id) => !SCENARIOS.includes(id));
  if (ids.length === 0 || unknown.length > 0)
    throw new Error(`bench: --only takes scenarios among ${SCENARIOS.join(',')}`);
  return ids;
}
