// deploy/docker-compose.yml, checked without a Docker engine: it parses, builds
// Berth's images from targets that exist, runs only the expected third-party
// images, publishes the apps' default ports, and hands the apps a configuration
// that libs/config accepts, using only variables it knows.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ConfigError, loadConfig } from '@berth/config';
import { configVariables } from './support/config-variables';
import { parseDockerfile } from './support/dockerfile';
import { DEPLOY_DIR } from './support/paths';

const COMPOSE_FILE = path.join(DEPLOY_DIR, 'docker-compose.yml');
const BERTH_APPS = ['management-api', 'registry', 'worker'];
const THIRD_PARTY_IMAGES: Record<string, string> = {
  postgres: 'postgres:16',
  redis: 'redis:7',
  azurite: 'mcr.microsoft.com/azure-storage/azurite',
};

type Service = Record<string, any>;

/** Compose's variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}|\$(\w+)/g, (match, name, colon, op, arg, bare) => {
    if (match === '$$') return '$';
    if (bare) return vars[bare] ?? '';
    const value = vars[name];
    const missing = value === undefined || (colon === ':' && value === '');
    if (op === '-') return missing ? arg : value!;
    if (op === '?' && missing) throw new Error(`required variable ${name} is not set: ${arg}`);
    return value ?? '';
  });
}

function readEnvFile(file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_]\w*)=(.*)$/.exec(line);
    if (match) vars[match[1]] = match[2];
  }
  return vars;
}

function load(vars: Record<string, string | undefined>): Record<string, Service> {
  return parse(interpolate(readFileSync(COMPOSE_FILE, 'utf8'), vars), { merge: true }).services;
}

const example = readEnvFile(path.join(DEPLOY_DIR, '.env.example'));
/** What an operator puts in deploy/.env: the example with the placeholders replaced. */
const filledIn: Record<string, string> = {
  ...example,
  BERTH_SECRET_KEY: 'compose-test-secret-0123456789abcdefghij',
  BERTH_API_KEY: 'compose-test-api-key-0123456789',
  POSTGRES_PASSWORD: 'compose-test-password',
};

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e: string) => e.split(/=(.*)/s).slice(0, 2)));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

describe('deploy/docker-compose.yml', () => {
  const services = load(filledIn);

  it('runs the three apps, the migration job, PostgreSQL, Redis and Azurite', () => {
    expect(Object.keys(services).sort()).toEqual(['azurite', 'management-api', 'migrate', 'postgres', 'redis', 'registry', 'worker']);
  });

  it('builds Berth images from the repository with targets the Dockerfile defines', () => {
    for (const name of [...BERTH_APPS, 'migrate']) {
      const build = services[name].build;
      const context = path.resolve(DEPLOY_DIR, build.context);
      const dockerfile = path.join(context, build.dockerfile);
      expect(existsSync(path.join(context, 'package.json'))).toBe(true);
      expect(existsSync(path.join(context, '.dockerignore'))).toBe(true);
      expect(existsSync(dockerfile)).toBe(true);
      const targets = parseDockerfile(readFileSync(dockerfile, 'utf8')).stages.map((s) => s.name);
      expect({ name, target: build.target, defined: targets.includes(build.target) }).toEqual({ name, target: name, defined: true });
    }
  });

  it("confines Berth's containers: read-only root, writable /tmp only, no capabilities or privilege gain", () => {
    for (const name of [...BERTH_APPS, 'migrate']) {
      const { read_only, tmpfs, cap_drop, security_opt } = services[name];
      expect({ name, read_only, tmpfs, cap_drop, security_opt }).toEqual({
        name,
        read_only: true,
        tmpfs: ['/tmp'],
        cap_drop: ['ALL'],
        security_opt: ['no-new-privileges:true'],
      });
    }
  });

  it('uses only the expected third-party images', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build) continue;
      expect({ name, image: service.image }).toEqual({ name, image: THIRD_PARTY_IMAGES[name] });
    }
  });

  it('sets only variables libs/config knows', () => {
    const known = configVariables();
    for (const name of [...BERTH_APPS, 'migrate']) {
      const unknown = Object.keys(environment(services[name])).filter((v) => !known.has(v));
      expect({ name, unknown }).toEqual({ name, unknown: [] });
    }
  });

  it('gives each app a configuration libs/config accepts, with Azure storage on Azurite', () => {
    for (const name of BERTH_APPS) {
      const config = loadConfig(environment(services[name]));
      expect(config.nodeEnv).toBe('production');
      expect(config.storage).toMatchObject({ driver: 'azure', container: 'berth' });
      expect(config.storage.driver === 'azure' && config.storage.connectionString).toContain('BlobEndpoint=http://azurite:10000/devstoreaccount1');
      expect(new URL(config.databaseUrl!).host).toBe('postgres:5432');
      expect(new URL(config.redisUrl).host).toBe('redis:6379');
    }
    expect(environment(services.migrate).DATABASE_URL).toBe(environment(services.registry).DATABASE_URL);
  });

  it('publishes the default ports and configures the apps to listen on them', () => {
    const defaults = loadConfig({});
    expect(services['management-api'].ports).toEqual([`${defaults.managementPort}:${defaults.managementPort}`]);
    expect(services.registry.ports).toEqual([`${defaults.registryPort}:${defaults.registryPort}`]);
    expect(loadConfig(environment(services['management-api'])).managementPort).toBe(defaults.managementPort);
    expect(loadConfig(environment(services.registry)).registryPort).toBe(defaults.registryPort);
    expect(services.worker.ports).toBeUndefined();
  });

  it('starts the apps only after the migration succeeded and the services are healthy', () => {
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of BERTH_APPS) {
      expect(services[name].depends_on).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
        azurite: { condition: 'service_healthy' },
      });
    }
  });

  it('health-checks every long-running service, the apps with the image health check script', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === 'migrate') continue;
      expect({ name, test: Array.isArray(service.healthcheck?.test) }).toEqual({ name, test: true });
    }
    for (const name of BERTH_APPS) expect(services[name].healthcheck.test).toEqual(['CMD', 'node', 'healthcheck.js', name]);
  });

  it('refuses to start without the secrets, and with the example placeholders the apps refuse them', () => {
    const withoutSecrets = { ...filledIn, BERTH_SECRET_KEY: undefined };
    expect(() => load(withoutSecrets)).toThrow('required variable BERTH_SECRET_KEY is not set');
    expect(() => load({ ...filledIn, BERTH_API_KEY: '' })).toThrow('required variable BERTH_API_KEY is not set');
    // deploy/.env copied from the example without editing: loadConfig rejects the placeholders.
    const placeholders = load(example);
    for (const name of BERTH_APPS) {
      expect(() => loadConfig(environment(placeholders[name]))).toThrow(ConfigError);
    }
  });

  it('documents in .env.example every variable the compose file reads', () => {
    const referenced = new Set([...readFileSync(COMPOSE_FILE, 'utf8').matchAll(/\$\{(\w+)/g)].map((m) => m[1]));
    expect([...referenced].filter((v) => !(v in example))).toEqual([]);
    for (const value of [example.BERTH_SECRET_KEY, example.BERTH_API_KEY]) expect(value).toMatch(/REPLACE_ME/);
  });
});
