// Builds the dashboard into app/web/static/ (served by `beacon serve` at /static/…):
// dashboard.js (src/main.js and uPlot, one minified IIFE), dashboard.css (src/style.css
// with uPlot's style sheet), icon.svg. `--size` also prints each file's gzip -9 size and
// the total against the budget (150 KB of JS + CSS, gzipped).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = root + 'static/';
mkdirSync(out, { recursive: true });
const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: ['src/main.js'],
  format: 'iife',
  target: 'es2020',
  outfile: out + 'dashboard.js',
});
await build({ ...common, entryPoints: ['src/style.css'], outfile: out + 'dashboard.css' });
copyFileSync(root + 'src/icon.svg', out + 'icon.svg');

if (process.argv.includes('--size')) {
  let total = 0;
  for (const name of ['dashboard.js', 'dashboard.css']) {
    const size = gzipSync(readFileSync(out + name), { level: 9 }).length;
    total += size;
    console.log(`${name}: ${size} bytes gzipped`);
  }
  console.log(`JS + CSS: ${total} bytes gzipped (budget 153600)`);
  if (total > 153600) process.exit(1);
}
