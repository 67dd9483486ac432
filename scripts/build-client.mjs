// Builds the customer client (src/client, and the shared modules it imports) into dist/ as JavaScript with type
// declarations: `npm run build`, and `npm pack` / `npm publish` (prepack), so a package never ships without it.
// With --optional (`prepare`, run by `npm ci` / `npm install` in a checkout) a missing TypeScript compiler is not an
// error: a gateway deployment installed with `--omit=dev` runs from its sources and needs no client build.
import { rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  if (process.argv.includes('--optional')) {
    console.log('mmsgate: TypeScript not installed (--omit=dev?): dist/client not built; `npm run build` builds it.');
    process.exit(0);
  }
  console.error('mmsgate: building dist/client needs TypeScript (a devDependency): run `npm ci` (without --omit=dev) first.');
  process.exit(1);
}
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true }); // no stale files from an older build
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.client.json'], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
