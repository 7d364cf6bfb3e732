import { randomBytes } from 'node:crypto';
import { startAzurite } from '@berth/storage/testing';
import { describeRealClients } from './support/clients/scenario';

// The real-client scenario of clients.e2e-spec.ts on Azure Blob storage,
// served by an Azurite this file starts. Layers of 256 KiB and more are
// downloaded through a 307 to a signed Azurite URL, so the clients'
// redirect handling is exercised too.
describeRealClients({
  label: 'Azure Blob storage (Azurite)',
  tag: 'az',
  redirectsDownloads: true,
  async setup() {
    const azurite = await startAzurite();
    return {
      env: {
        STORAGE_DRIVER: 'azure',
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
        AZURE_STORAGE_CONTAINER: `berth-clients-${randomBytes(4).toString('hex')}`,
        AZURE_REDIRECT_MIN_BYTES: String(256 * 1024),
      },
      cleanup: () => azurite.stop(),
    };
  },
});
