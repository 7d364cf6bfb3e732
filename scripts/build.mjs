// Production build: compiles the apps and libs (tests excluded) and the
// generated Prisma client to plain CommonJS under dist/, so the images run
// `node dist/apps/<app>/src/main.js` with production node_modules only.
//
// Usage: node scripts/build.mjs [--out-dir <dir>]   (default: dist; any other
// directory must be outside the repository and new, empty or an earlier output)
//
// Same SWC transform as scripts/register.js (legacy decorators with metadata
// for NestJS, es2022, class names kept for Nest's injection tokens). The
// @berth/* aliases of tsconfig.base.json become relative requires through
// SWC's jsc.paths; SWC wants an absolute baseUrl, so it is computed here at
// run time and nothing machine-specific is written to the repository. The
// output keeps the source layout (dist/apps/registry/src/main.js mirrors
// apps/registry/src/main.ts), which is what keeps the rewritten relative
// paths valid.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformFile } from '@swc/core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Projects that exist only for tests and never ship. */
const TEST_ONLY_PROJECTS = new Set(['libs/testing']);
/** Folders inside a project's src that hold test support, not production code. */
const TEST_FOLDERS = new Set(['test', 'testing', '__tests__']);
const TEST_FILE = /\.(spec|e2e-spec|test)\.ts$|\.d\.ts$/;
const GENERATED_CLIENT = 'libs/db/src/generated/prisma/client.ts';

function parseArgs(argv) {
  let outDir = 'dist';
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out-dir' && argv[i + 1]) outDir = argv[++i];
    else throw new Error(`unknown argument "${argv[i]}" (usage: node scripts/build.mjs [--out-dir <dir>])`);
  }
  return { outDir: path.resolve(ROOT, outDir) };
}

async function walk(dir) {
  const files = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!TEST_FOLDERS.has(entry.name)) files.push(...(await walk(full)));
    } else if (entry.name.endsWith('.ts') && !TEST_FILE.test(entry.name)) {
      files.push(full);
    }
  }
  return files;
}

/** Every production TypeScript file: apps/<app>/src and libs/<lib>/src, generated client included. */
async function listSources() {
  const sources = [];
  for (const group of ['apps', 'libs']) {
    for (const entry of await readdir(path.join(ROOT, group), { withFileTypes: true })) {
      const project = `${group}/${entry.name}`;
      const src = path.join(ROOT, project, 'src');
      if (entry.isDirectory() && !TEST_ONLY_PROJECTS.has(project) && existsSync(src)) sources.push(...(await walk(src)));
    }
  }
  return sources.sort();
}

function swcOptions() {
  const { compilerOptions } = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.base.json'), 'utf8'));
  return {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
      baseUrl: ROOT,
      paths: compilerOptions.paths,
    },
    module: { type: 'commonjs' },
    sourceMaps: true,
    swcrc: false,
    configFile: false,
  };
}

async function compile(source, outDir, options) {
  const relative = path.relative(ROOT, source);
  const outFile = path.join(outDir, relative.replace(/\.ts$/, '.js'));
  const { code, map } = await transformFile(source, {
    ...options,
    // Relative as seen from dist/ in the repository (whatever --out-dir is), so
    // source maps name no directory of the build machine.
    sourceFileName: path.relative(path.dirname(path.join(ROOT, 'dist', relative)), source),
    outputPath: outFile,
  });
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, `${code}\n//# sourceMappingURL=${path.basename(outFile)}.map\n`);
  if (map) await writeFile(`${outFile}.map`, map);
  return { outFile, code };
}

const REQUIRE = /\brequire\(\s*["']([^"']+)["']\s*\)/g;

/**
 * Fails the build when an emitted require cannot work in the image: a relative
 * one that points outside the output (say, into a test helper that is not
 * built) or an alias SWC did not rewrite.
 */
function checkRequires(outputs) {
  const emitted = new Set(outputs.map((o) => o.outFile));
  const problems = [];
  for (const { outFile, code } of outputs) {
    for (const [, request] of code.matchAll(REQUIRE)) {
      if (request.startsWith('@berth/')) {
        problems.push(`${outFile}: unrewritten alias "${request}"`);
      } else if (request.startsWith('.')) {
        const base = path.resolve(path.dirname(outFile), request);
        const candidates = [base, `${base}.js`, path.join(base, 'index.js')];
        if (!candidates.some((c) => emitted.has(c) || (c.endsWith('.json') && existsSync(c)))) {
          problems.push(`${path.relative(ROOT, outFile)}: "${request}" is not part of the build`);
        }
      }
    }
  }
  return problems;
}

/** Left in every output directory: a later build may empty a directory that holds it. */
const MARKER = '.berth-build';

/**
 * The output directory is emptied before building, so it must be one a build
 * made: dist/ of the repository, or a directory that is missing, empty or
 * marked by an earlier build. Anything else (a typo such as `--out-dir apps`)
 * is refused.
 */
async function assertSafeToEmpty(outDir) {
  const inRepo = path.relative(ROOT, outDir);
  if (inRepo === 'dist' || inRepo.startsWith(`dist${path.sep}`)) return;
  const outside = inRepo.startsWith(`..${path.sep}`) || inRepo === '..' || path.isAbsolute(inRepo);
  const contents = existsSync(outDir) ? await readdir(outDir) : [];
  if (outside && (contents.length === 0 || contents.includes(MARKER))) return;
  throw new Error(`refusing to empty ${outDir}: use dist/, or a new or empty directory outside the repository`);
}

async function main() {
  const started = Date.now();
  const { outDir } = parseArgs(process.argv.slice(2));
  await assertSafeToEmpty(outDir);
  if (!existsSync(path.join(ROOT, GENERATED_CLIENT))) {
    throw new Error(`${GENERATED_CLIENT} is missing: run \`npm run prisma:generate\` first (npm ci runs it as postinstall)`);
  }
  const sources = await listSources();
  await rm(outDir, { recursive: true, force: true });
  const options = swcOptions();
  const outputs = await Promise.all(sources.map((source) => compile(source, outDir, options)));
  await writeFile(path.join(outDir, MARKER), 'Output of scripts/build.mjs; emptied by the next build.\n');
  const problems = checkRequires(outputs);
  if (problems.length > 0) throw new Error(`the build output would not run:\n  ${problems.join('\n  ')}`);
  const entries = outputs.map((o) => path.relative(ROOT, o.outFile)).filter((f) => /(^|[\\/])apps[\\/][^\\/]+[\\/]src[\\/]main\.js$/.test(f));
  console.log(`built ${outputs.length} files into ${path.relative(ROOT, outDir) || outDir} in ${Date.now() - started} ms`);
  for (const entry of entries) console.log(`  node ${entry}`);
}

main().catch((error) => {
  console.error(`build failed: ${error.message}`);
  process.exitCode = 1;
});
