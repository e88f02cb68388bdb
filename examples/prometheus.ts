// Skiplock's metrics on a Prometheus endpoint: http://localhost:9464/metrics (docs/telemetry.md).
// Type-checked by `pnpm typecheck`; run it with a TypeScript runner, e.g.
//   DATABASE_URL=postgres://… npx tsx examples/prometheus.ts
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { defineJob, Skiplock } from 'skiplock';

// The exporter is a metric reader that serves the scrape endpoint itself.
const exporter = new PrometheusExporter({ port: 9464 });
const meterProvider = new MeterProvider({ readers: [exporter] });

export const resizeImage = defineJob<{ imageId: string }>({
  name: 'images.resize',
  queue: 'images',
  async perform({ imageId }, ctx) {
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200));
    if (Math.random() < 0.2) throw new Error(`image ${imageId} could not be decoded`); // retried
    ctx.logger.info({ imageId }, 'resized');
  },
});

const skiplock = new Skiplock({ connectionString: process.env.DATABASE_URL, meterProvider });
await skiplock.migrate();
const worker = skiplock.worker({ jobs: [resizeImage], concurrency: 5 });
await worker.start();
await skiplock.performAllLater(
  undefined,
  Array.from({ length: 20 }, (_, i) => resizeImage.with({ imageId: `img-${i}` })),
);

// Ctrl-C: stop the worker, then the exporter's HTTP server.
process.once('SIGINT', () => {
  void worker
    .stop()
    .then(() => skiplock.close())
    .then(() => meterProvider.shutdown());
});
