// deploy/docker/Dockerfile and .dockerignore, checked without a Docker engine:
// every file the images copy exists and survives .dockerignore, every command
// they run points at a file the image holds (the build output included), and
// the runtime images are production-only, non-root and health-checked.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { loadConfig } from '@berth/config';
import { REGISTRY_ENV, REGISTRY_NODE_FLAGS, REGISTRY_NODE_OPTIONS } from '../../apps/registry/src/node-options';
import { buildToTemp, type BuildOutput } from './support/build';
import { dockerIgnore, execForm, lineage, parseCopy, parseDockerfile, type Dockerfile, type Stage } from './support/dockerfile';
import { DEPLOY_DIR, REPO_ROOT } from './support/paths';

const DOCKERFILE = path.join(DEPLOY_DIR, 'docker', 'Dockerfile');
const defaults = loadConfig({});
const APPS = [
  { target: 'management-api', port: defaults.managementPort },
  { target: 'registry', port: defaults.registryPort },
  // The worker's metrics server (not configurable): /metrics, /healthz, /readyz.
  { target: 'worker', port: 9464 },
];

let dockerfile: Dockerfile;
let ignored: (file: string) => boolean;
let build: BuildOutput;

beforeAll(async () => {
  dockerfile = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  ignored = dockerIgnore(readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8'));
  build = await buildToTemp();
});

afterAll(async () => {
  await build?.remove();
});

function instructions(stages: Stage[], keyword: string) {
  return stages.flatMap((s) => s.instructions.filter((i) => i.keyword === keyword));
}

function last<T>(items: T[]): T | undefined {
  return items[items.length - 1];
}

const lock: { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> } = JSON.parse(
  readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8'),
);

/** Whether `npm ci` with these flags installs the package holding `file` (node_modules/…), by npm's omit rules. */
function installedBy(install: string, file: string): boolean {
  const owner = Object.keys(lock.packages)
    .filter((k) => k !== '' && (file === k || file.startsWith(`${k}/`)))
    .sort((a, b) => b.length - a.length)[0];
  if (!owner) return false;
  const entry = lock.packages[owner];
  const omitDev = install.includes('--omit=dev');
  const omitOptional = install.includes('--omit=optional');
  const omitted = (entry.dev && omitDev) || (entry.optional && omitOptional) || (entry.devOptional && omitDev && omitOptional);
  return !omitted && existsSync(path.join(REPO_ROOT, file));
}

/**
 * Whether a stage holds a file: its dist/ is the build output, its
 * node_modules what its `npm ci` installs, anything else mirrors the repository.
 */
function stageFileExists(stage: Stage, absolute: string): boolean {
  const workdir = last(instructions([stage], 'WORKDIR'))?.args ?? '/';
  const relative = path.posix.relative(workdir, absolute);
  if (relative.startsWith('..')) return false;
  if (relative === 'dist' || relative.startsWith('dist/')) {
    return relative === 'dist' ? build.files.size > 0 : [...build.files].some((f) => f === relative || f.startsWith(`${relative}/`));
  }
  if (relative === 'node_modules' || relative.startsWith('node_modules/')) {
    const install = instructions([stage], 'RUN').find((r) => /\bnpm ci\b/.test(r.args))?.args;
    if (!install) return false;
    return relative === 'node_modules' || installedBy(install, relative);
  }
  return existsSync(path.join(REPO_ROOT, relative));
}

/**
 * Whether `file` (absolute, in the image of `target`) was put there by a COPY
 * of the target's stage chain, and exists at the source.
 */
function imageHas(target: string, file: string): boolean {
  let workdir = '/';
  const copies: Array<{ stage: Stage | undefined; source: string; destination: string; intoDirectory: boolean }> = [];
  for (const stage of lineage(dockerfile, target)) {
    for (const instruction of stage.instructions) {
      if (instruction.keyword === 'WORKDIR') workdir = path.posix.resolve(workdir, instruction.args);
      if (instruction.keyword !== 'COPY') continue;
      const copy = parseCopy(instruction.args);
      const from = copy.from ? dockerfile.stages.find((s) => s.name === copy.from) : undefined;
      const destination = path.posix.resolve(workdir, copy.destination);
      for (const source of copy.sources) {
        const intoDirectory = copy.destination.endsWith('/') || copy.sources.length > 1;
        copies.push({ stage: from, source, destination, intoDirectory });
      }
    }
  }
  for (const { stage, source, destination, intoDirectory } of copies.reverse()) {
    const repoSource = path.join(REPO_ROOT, source);
    const isDirectory = stage ? !path.posix.extname(source) : existsSync(repoSource) && statSync(repoSource).isDirectory();
    const root = isDirectory ? destination : intoDirectory ? path.posix.join(destination, path.posix.basename(source)) : destination;
    if (file !== root && !(isDirectory && file.startsWith(`${root}/`))) continue;
    const rest = path.posix.relative(root, file);
    if (stage) return stageFileExists(stage, path.posix.join(source, rest));
    const repoPath = path.posix.join(source, rest);
    return existsSync(path.join(REPO_ROOT, repoPath)) && !ignored(repoPath);
  }
  return false;
}

describe('deploy/docker/Dockerfile', () => {
  it('defines one target per app and one for the migration job', () => {
    const names = dockerfile.stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['build', 'prod-deps', 'runtime', 'migrate', 'management-api', 'registry', 'worker']));
    expect(new Set(names).size).toBe(names.length);
  });

  it('starts every stage from the slim Node 20 image or an earlier stage', () => {
    dockerfile.stages.forEach((stage, i) => {
      const earlier = dockerfile.stages.slice(0, i).map((s) => s.name);
      if (!earlier.includes(stage.from)) expect(stage.from).toMatch(/^node:20(\.\d+)*-bookworm-slim$/);
    });
  });

  it('copies only files that exist in the repository and are not excluded by .dockerignore', () => {
    const problems: string[] = [];
    dockerfile.stages.forEach((stage, i) => {
      for (const instruction of instructions([stage], 'COPY').concat(instructions([stage], 'ADD'))) {
        expect(instruction.keyword).toBe('COPY'); // ADD fetches and unpacks; never needed here
        const copy = parseCopy(instruction.args);
        if (copy.from) {
          if (!dockerfile.stages.slice(0, i).some((s) => s.name === copy.from)) problems.push(`line ${instruction.line}: unknown stage ${copy.from}`);
          continue;
        }
        for (const source of copy.sources) {
          if (!existsSync(path.join(REPO_ROOT, source))) problems.push(`line ${instruction.line}: ${source} does not exist`);
          else if (ignored(source)) problems.push(`line ${instruction.line}: ${source} is excluded by .dockerignore`);
        }
      }
    });
    expect(problems).toEqual([]);
  });

  it('gives the build stage everything the build reads', () => {
    const needed = [
      'package.json',
      'package-lock.json',
      'tsconfig.base.json',
      'prisma.config.ts',
      'prisma/schema.prisma',
      'scripts/build.mjs',
      'scripts/prisma-generate.mjs',
      ...APPS.map((a) => `apps/${a.target}/src/main.ts`),
      ...['auth', 'config', 'db', 'events', 'oci', 'storage'].map((lib) => `libs/${lib}/src/index.ts`),
    ];
    for (const file of needed) expect({ file, inImage: imageHas('build', `/src/${file}`) }).toEqual({ file, inImage: true });
    const runs = instructions([dockerfile.stages.find((s) => s.name === 'build')!], 'RUN').map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => r.includes('scripts/prisma-generate.mjs') && /npm run build\b/.test(r))).toBe(true);
  });

  it('keeps local dependencies, build output and the generated client out of the build context', () => {
    for (const file of ['node_modules/pg/package.json', 'dist/apps/registry/src/main.js', 'libs/db/src/generated/prisma/client.ts', '.git/HEAD', 'deploy/.env']) {
      expect({ file, ignored: ignored(file) }).toEqual({ file, ignored: true });
    }
    expect(ignored('apps/registry/src/main.ts')).toBe(false);
    expect(ignored('libs/oci/src/digest.spec.ts')).toBe(true);
  });

  it('installs production dependencies without install scripts and without the dev toolchain', () => {
    const runs = instructions([dockerfile.stages.find((s) => s.name === 'prod-deps')!], 'RUN').map((r) => r.args);
    const install = runs.find((r) => /\bnpm ci\b/.test(r));
    expect(install).toBeDefined();
    expect(install).toContain('--omit=dev');
    expect(install).toContain('--ignore-scripts');
  });

  it.each(APPS)('runs $target from the build output, non-root, in production mode, with a health check', ({ target, port }) => {
    const chain = lineage(dockerfile, target);
    expect(chain.map((s) => s.name)).toContain('runtime');
    expect(chain.map((s) => s.name)).not.toContain('build');

    const cmd = execForm(last(instructions(chain, 'CMD'))!.args);
    const flags = target === 'registry' ? REGISTRY_NODE_FLAGS : [];
    expect(cmd).toEqual(['node', ...flags, `dist/apps/${target}/src/main.js`]);
    const main = cmd[cmd.length - 1]!;
    expect(build.files.has(main)).toBe(true);
    expect(imageHas(target, `/app/${main}`)).toBe(true);

    const user = last(instructions(chain, 'USER'))!.args;
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/); // numeric, so Kubernetes can verify runAsNonRoot
    expect(instructions(chain, 'ENV').map((e) => e.args).join(' ')).toMatch(/\bNODE_ENV=production\b/);
    expect(instructions(chain, 'EXPOSE').map((e) => Number(e.args))).toEqual([port]);

    const healthcheck = last(instructions(chain, 'HEALTHCHECK'))!.args;
    const probe = execForm(healthcheck.replace(/^.*?\bCMD\s+/, ''));
    expect(probe).toEqual(['node', 'healthcheck.js', target]);
    expect(imageHas(target, '/app/healthcheck.js')).toBe(true);
    // Production dependencies only: no dev toolchain (the prisma CLI is an optional
    // peer of @prisma/client, so npm keeps it unless optional deps are omitted too).
    expect(imageHas(target, '/app/node_modules/@prisma/client/package.json')).toBe(true);
    for (const devOnly of ['@prisma/schema-engine-wasm', 'prisma', 'typescript', '@swc/core', 'jest']) {
      expect({ devOnly, inImage: imageHas(target, `/app/node_modules/${devOnly}/package.json`) }).toEqual({ devOnly, inImage: false });
    }
  });

  it('runs the data plane with the heap sizing, malloc and thread pool settings the benchmark measured, and only the data plane', () => {
    const envValues = (target: string, pattern: RegExp) =>
      instructions(lineage(dockerfile, target), 'ENV')
        .map((e) => pattern.exec(e.args)?.[1])
        .filter((v) => v !== undefined);
    const nodeOptions = (target: string) => envValues(target, /\bNODE_OPTIONS="([^"]*)"/);
    expect(nodeOptions('registry')).toEqual([REGISTRY_NODE_OPTIONS]);
    for (const [name, value] of Object.entries(REGISTRY_ENV)) {
      expect({ name, values: envValues('registry', new RegExp(`\\b${name}=(\\S+)`)) }).toEqual({ name, values: [value] });
      expect({ name, values: envValues('worker', new RegExp(`\\b${name}=(\\S+)`)) }).toEqual({ name, values: [] });
    }
    // Every flag is one Node accepts in NODE_OPTIONS (it refuses to start otherwise).
    const check = spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: REGISTRY_NODE_OPTIONS }, encoding: 'utf8' });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
    for (const other of ['management-api', 'worker', 'migrate']) expect(nodeOptions(other)).toEqual([]);
    // The flags Node refuses in NODE_OPTIONS are on the data plane's command line, which Node accepts.
    expect(execForm(last(instructions(lineage(dockerfile, 'registry'), 'CMD'))!.args)).toEqual(['node', ...REGISTRY_NODE_FLAGS, 'dist/apps/registry/src/main.js']);
    const refused = spawnSync(process.execPath, ['-e', '0'], { env: { ...process.env, NODE_OPTIONS: REGISTRY_NODE_FLAGS.join(' ') }, encoding: 'utf8' });
    expect(refused.status).not.toBe(0);
    const flags = spawnSync(process.execPath, [...REGISTRY_NODE_FLAGS, '-e', '0'], { encoding: 'utf8' });
    expect({ status: flags.status, stderr: flags.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('gives the migration job its scripts, the migrations and the WebAssembly schema engine', () => {
    const chain = lineage(dockerfile, 'migrate');
    const cmd = execForm(last(instructions(chain, 'CMD'))!.args);
    expect(cmd).toEqual(['node', 'scripts/db-migrate.mjs']);
    for (const file of [
      'scripts/db-migrate.mjs',
      'scripts/prisma-engine.mjs',
      'prisma/schema.prisma',
      'prisma/migrations/migration_lock.toml',
      'node_modules/@prisma/schema-engine-wasm/package.json',
    ]) {
      expect({ file, inImage: imageHas('migrate', `/app/${file}`) }).toEqual({ file, inImage: true });
    }
    // Everything prisma-engine.mjs imports is there: the schema engine (copied) or production dependencies.
    const engineImports = [...readFileSync(path.join(REPO_ROOT, 'scripts/prisma-engine.mjs'), 'utf8').matchAll(/^import .* from '([^'.][^']*)';$/gm)]
      .map((m) => m[1])
      .filter((m) => !m.startsWith('node:'));
    expect(engineImports.length).toBeGreaterThan(0);
    for (const specifier of engineImports) {
      const pkg = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
      expect({ pkg, inImage: imageHas('migrate', `/app/node_modules/${pkg}/package.json`) }).toEqual({ pkg, inImage: true });
    }
  });

  it('flags a COPY of a missing file (the checker can fail)', () => {
    const broken = parseDockerfile(`FROM node:20-bookworm-slim AS x\nWORKDIR /app\nCOPY does-not-exist.js ./\nCMD ["node", "does-not-exist.js"]\n`);
    const saved = dockerfile;
    dockerfile = broken;
    try {
      expect(imageHas('x', '/app/does-not-exist.js')).toBe(false);
      expect(imageHas('x', '/app/other.js')).toBe(false);
    } finally {
      dockerfile = saved;
    }
  });
});
