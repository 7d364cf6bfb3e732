// The environment variables Berth understands, taken from libs/config itself:
// loadConfig is run over recording environments, so the list cannot drift from
// the code. Deployment files may set only these.
import { loadConfig } from '@berth/config';

/** Settings that make loadConfig take each of its branches at least once. */
const VARIANTS: Array<Record<string, string>> = [
  {},
  { NODE_ENV: 'production' },
  { STORAGE_DRIVER: 'azure', AZURE_STORAGE_ACCOUNT_URL: 'https://example.blob.core.windows.net' },
  { STORAGE_DRIVER: 'filesystem' },
];

/** Every variable name loadConfig reads. */
export function configVariables(): Set<string> {
  const seen = new Set<string>();
  for (const variant of VARIANTS) {
    const env = new Proxy(variant, {
      get(target, key) {
        if (typeof key === 'string') seen.add(key);
        return typeof key === 'string' ? target[key] : undefined;
      },
    });
    try {
      loadConfig(env);
    } catch {
      // Invalid combinations still reveal which names were read.
    }
  }
  return seen;
}
