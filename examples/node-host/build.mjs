// Transpiles the connector component named by SEATSYNC_COMPONENT into gen/
// (an ES module with `instantiate(getCoreModule, imports)`, and its core
// modules). Run by `npm run build` and before `npm test`.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { transpile } from '@bytecodealliance/jco';
import { CONNECTOR_EXPORT, GEN_DIR } from './host.mjs';

const source = process.env.SEATSYNC_COMPONENT;
if (!source) {
  console.error(
    'SEATSYNC_COMPONENT is not set: give the path of the connector component, e.g.\n' +
      '  SEATSYNC_COMPONENT=../../target/guest/wasm32-wasip2/component/seatsync_plugin.wasm npm test',
  );
  process.exit(2);
}

const { files, exports } = await transpile(await readFile(source), {
  name: 'seatsync',
  instantiation: 'async',
  quiet: true,
});
// A host runs the contract versions it knows: 0.2.x here.
const names = exports.map(([name]) => name);
if (!names.some((name) => CONNECTOR_EXPORT.test(name))) {
  console.error(`${source} does not export seatsync:psa/connector@0.2.x (it exports: ${names.join(', ')})`);
  process.exit(1);
}
await rm(GEN_DIR, { recursive: true, force: true });
for (const [name, bytes] of Object.entries(files)) {
  const path = join(GEN_DIR, name);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}
console.log(`transpiled ${source} into ${GEN_DIR}`);
