import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describeRealClients } from './support/clients/scenario';

// skopeo and podman against a registry on filesystem storage; the same
// scenario runs on Azure Blob storage (Azurite) in clients-azure.e2e-spec.ts.
describeRealClients({
  label: 'filesystem storage',
  tag: 'fs',
  redirectsDownloads: false,
  async setup() {
    const storagePath = await mkdtemp(path.join(tmpdir(), 'berth-clients-storage-'));
    return {
      env: { STORAGE_DRIVER: 'filesystem', STORAGE_PATH: storagePath },
      cleanup: () => rm(storagePath, { recursive: true, force: true }),
    };
  },
});
