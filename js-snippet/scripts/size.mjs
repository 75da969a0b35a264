// Prints the gzip -9 size of dist/beacon.min.js; with --max N, fails when it is larger.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const file = fileURLToPath(new URL('../dist/beacon.min.js', import.meta.url));
const raw = readFileSync(file);
const gz = gzipSync(raw, { level: 9 }).length;
const at = process.argv.indexOf('--max');
const max = at > 0 ? Number(process.argv[at + 1]) : Infinity;
console.log(`dist/beacon.min.js: ${raw.length} bytes, ${gz} bytes gzip -9` +
  (Number.isFinite(max) ? ` (budget ${max})` : ''));
if (gz > max) {
  console.error(`over budget by ${gz - max} bytes`);
  process.exit(1);
}
