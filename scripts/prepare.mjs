// `npm ci` / `npm install` in a checkout run this (package.json "prepare"): builds the customer client into dist/client
// (`npm run build`). A gateway deployment installed with `--omit=dev` has no TypeScript compiler and needs no client
// build (the gateway runs from its sources), so then this says so and succeeds.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.log('mmsgate: TypeScript not installed (--omit=dev?): dist/client not built; `npm run build` builds it.');
  process.exit(0);
}
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.client.json'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
