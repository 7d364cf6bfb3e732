import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';

/**
 * Berth's configuration, read once from the environment and validated.
 * Nothing else in the codebase reads `process.env`; every variable is
 * documented in the README's configuration table.
 */
export interface BerthConfig {
  /** Where the process runs: tests relax nothing, but log less. */
  nodeEnv: string;
  databaseUrl: string | undefined;
  redisUrl: string;
  /** Registries answer at `<name>.<domain>`. */
  domain: string;
  managementPort: number;
  registryPort: number;
  /** Bootstrap operator API key for the management API. */
  bootstrapApiKey: string | undefined;
  /** Root secret: encryption at rest and token signing keys are derived from it. */
  secretKey: Buffer;
  dataDir: string;
  storage: StorageConfig;
  tls: { certFile: string; keyFile: string } | undefined;
  /** Addresses (exact IPs) whose X-Forwarded-* headers are trusted. */
  trustedProxies: string[];
  logLevel: LogLevel;
  tokens: { accessTtlSeconds: number; refreshTtlSeconds: number };
  uploads: {
    expirySeconds: number;
    /** Threads hashing upload bytes off the event loop (0: hash on it). */
    hashThreads: number;
  };
  /** Whether the data plane answers hot lookups from memory, invalidated by database notifications (LISTEN). */
  metadataCache: boolean;
  /** Database connections each of the data plane's two pools opens at start and keeps however long they sit idle. */
  registryDbMinConnections: number;
  gc: { graceSeconds: number };
  worker: {
    /** Port of the worker's /metrics, /healthz and /readyz. */
    metricsPort: number;
    /** Prefix of every BullMQ key, so several installations can share one Redis. */
    queuePrefix: string;
  };
  webhooks: {
    timeoutMs: number;
    maxAttempts: number;
    allowPrivateTargets: boolean;
    allowLoopbackTargets: boolean;
  };
}

export type StorageConfig =
  | { driver: 'filesystem'; path: string }
  | {
      driver: 'azure';
      connectionString: string | undefined;
      accountUrl: string | undefined;
      container: string;
      /** Answer large blob GETs with a 307 to a short-lived SAS URL (0 = never). */
      redirectMinBytes: number;
    };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Builds and validates the configuration; throws ConfigError listing every problem at once. */
export function loadConfig(env: Env = process.env): BerthConfig {
  const problems: string[] = [];
  const str = (name: string, fallback?: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? fallback : value;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = str(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };

  const nodeEnv = str('NODE_ENV', 'development')!;
  const dataDir = path.resolve(str('BERTH_DATA_DIR', '.data')!);

  const databaseUrl = str('DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgresql:// URL');
  }
  const redisUrl = str('REDIS_URL', 'redis://127.0.0.1:6379')!;
  if (!/^rediss?:\/\//.test(redisUrl)) problems.push('REDIS_URL must be a redis:// or rediss:// URL');

  const domain = str('BERTH_DOMAIN', 'localhost')!.toLowerCase();
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain)) {
    problems.push(`BERTH_DOMAIN must be a DNS name (got "${domain}")`);
  }

  const secretRaw = str('BERTH_SECRET_KEY');
  let secretKey: Buffer;
  if (secretRaw === undefined) {
    if (nodeEnv === 'production') problems.push('BERTH_SECRET_KEY is required in production (32+ random characters)');
    // Development default: stable per data directory, never used in production.
    secretKey = createHash('sha256').update(`berth-dev-secret:${dataDir}`).digest();
  } else if (secretRaw.length < 32) {
    problems.push('BERTH_SECRET_KEY must be at least 32 characters');
    secretKey = Buffer.alloc(32);
  } else {
    secretKey = createHash('sha256').update(secretRaw).digest();
  }

  const bootstrapApiKey = str('BERTH_API_KEY');
  if (bootstrapApiKey !== undefined && bootstrapApiKey.length < 16) {
    problems.push('BERTH_API_KEY must be at least 16 characters');
  }

  const driver = str('STORAGE_DRIVER', 'filesystem');
  let storage: StorageConfig;
  if (driver === 'azure') {
    const connectionString = str('AZURE_STORAGE_CONNECTION_STRING');
    const accountUrl = str('AZURE_STORAGE_ACCOUNT_URL');
    if (!connectionString && !accountUrl) {
      problems.push('STORAGE_DRIVER=azure needs AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL');
    }
    const container = str('AZURE_STORAGE_CONTAINER', 'berth')!;
    if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(container)) {
      problems.push('AZURE_STORAGE_CONTAINER must be 3-63 lowercase letters, digits and single dashes');
    }
    storage = {
      driver,
      connectionString,
      accountUrl,
      container,
      redirectMinBytes: int('AZURE_REDIRECT_MIN_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
    };
  } else {
    if (driver !== 'filesystem') problems.push(`STORAGE_DRIVER must be filesystem or azure (got "${driver}")`);
    storage = { driver: 'filesystem', path: path.resolve(str('STORAGE_PATH', path.join(dataDir, 'storage'))!) };
  }

  const certFile = str('REGISTRY_TLS_CERT');
  const keyFile = str('REGISTRY_TLS_KEY');
  if (Boolean(certFile) !== Boolean(keyFile)) problems.push('REGISTRY_TLS_CERT and REGISTRY_TLS_KEY must be set together');

  const queuePrefix = str('BERTH_QUEUE_PREFIX', 'berth')!;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(queuePrefix)) problems.push('BERTH_QUEUE_PREFIX must be 1-64 letters, digits, - or _');

  const logLevel = str('LOG_LEVEL', nodeEnv === 'test' ? 'warn' : 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const config: BerthConfig = {
    nodeEnv,
    databaseUrl,
    redisUrl,
    domain,
    managementPort: int('MANAGEMENT_PORT', 8080, 0, 65535),
    registryPort: int('REGISTRY_PORT', 5000, 0, 65535),
    bootstrapApiKey,
    secretKey,
    dataDir,
    storage,
    tls: certFile && keyFile ? { certFile, keyFile } : undefined,
    trustedProxies: (str('BERTH_TRUSTED_PROXIES', '') ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    logLevel,
    tokens: {
      accessTtlSeconds: int('BERTH_ACCESS_TOKEN_TTL', 300, 30, 86400),
      refreshTtlSeconds: int('BERTH_REFRESH_TOKEN_TTL', 3 * 3600, 300, 30 * 86400),
    },
    uploads: {
      expirySeconds: int('BERTH_UPLOAD_EXPIRY', 24 * 3600, 60, 30 * 86400),
      // Default: every core but one (the event loop's), at most 4.
      hashThreads: int('BERTH_UPLOAD_HASH_THREADS', Math.min(4, Math.max(1, availableParallelism() - 1)), 0, 64),
    },
    metadataCache: bool('BERTH_METADATA_CACHE', true),
    registryDbMinConnections: int('BERTH_REGISTRY_DB_MIN_CONNECTIONS', 4, 0, 20),
    gc: { graceSeconds: int('BERTH_GC_GRACE', 3600, 0, 30 * 86400) },
    worker: {
      metricsPort: int('BERTH_WORKER_METRICS_PORT', 9464, 0, 65535),
      queuePrefix: str('BERTH_QUEUE_PREFIX', 'berth')!,
    },
    webhooks: {
      timeoutMs: int('BERTH_WEBHOOK_TIMEOUT_MS', 10000, 100, 120000),
      maxAttempts: int('BERTH_WEBHOOK_MAX_ATTEMPTS', 5, 1, 20),
      allowPrivateTargets: bool('BERTH_WEBHOOK_ALLOW_PRIVATE', false),
      allowLoopbackTargets: bool('BERTH_WEBHOOK_ALLOW_LOOPBACK', false),
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The URL the apps use for Postgres; the dev launcher fills DATABASE_URL when it embeds one. */
export function requireDatabaseUrl(config: BerthConfig): string {
  if (!config.databaseUrl) {
    throw new ConfigError(['DATABASE_URL is not set (npm start embeds a PostgreSQL when it is unset)']);
  }
  return config.databaseUrl;
}
