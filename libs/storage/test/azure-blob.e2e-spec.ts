import { ContainerClient } from '@azure/storage-blob';
import { Readable } from 'node:stream';
import { createBlobStore, type BlobStore } from '../src';
import { AzureBlobStore } from '../src/azure-blob.driver';
import { describeBlobStoreConformance, startAzurite, type Azurite } from '../src/testing';

let azurite: Azurite;
let connectionString: string;

let containerCount = 0;
/** A fresh container per store: 3-63 lowercase characters. */
function uniqueContainer(): string {
  return `berth-test-${process.pid}-${Date.now().toString(36)}-${++containerCount}`;
}

beforeAll(async () => {
  azurite = await startAzurite();
  connectionString = azurite.connectionString;
}, 30_000);
afterAll(() => azurite?.stop());

describeBlobStoreConformance('azure-blob (Azurite)', async () => {
  const container = uniqueContainer();
  const store = await createBlobStore({ driver: 'azure', connectionString, accountUrl: undefined, container, redirectMinBytes: 0 });
  const raw = new ContainerClient(connectionString, container);
  return {
    store,
    cleanup: async () => {
      await raw.deleteIfExists();
    },
    // Seen by the service itself, uncommitted blocks included.
    leftovers: async () => {
      const names: string[] = [];
      for await (const blob of raw.listBlobsFlat({ includeUncommitedBlobs: true })) names.push(blob.name);
      return names;
    },
  };
});

describe('AzureBlobStore specifics', () => {
  let store: BlobStore;
  let container: string;
  beforeAll(async () => {
    container = uniqueContainer();
    store = await createBlobStore({ driver: 'azure', connectionString, accountUrl: undefined, container, redirectMinBytes: 0 });
  });
  afterAll(async () => {
    await new ContainerClient(connectionString, container).deleteIfExists();
  });

  it('creates its container and signs read-only URLs that a plain fetch can download', async () => {
    expect(await new ContainerClient(connectionString, container).exists()).toBe(true);
    const key = 'registries/r1/blobs/signed';
    const content = Buffer.from('0123456789abcdef');
    const { parts } = await store.appendUpload(key, 0, Readable.from([content]), []);
    await store.completeUpload(key, parts);

    const url = await store.signedReadUrl!(key, 60);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\/.+\?.*sig=/);
    const whole = await fetch(url!);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(content);
    const ranged = await fetch(url!, { headers: { Range: 'bytes=3-6' } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe('3456');

    // Read-only: the same signature cannot overwrite or delete the blob.
    const put = await fetch(url!, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' }, body: 'evil' });
    expect(put.status).toBe(403);
    expect((await fetch(url!, { method: 'DELETE' })).status).toBe(403);
    expect(Buffer.from(await (await fetch(url!)).arrayBuffer())).toEqual(content);

    await store.delete(key);
    expect((await fetch(url!)).status).toBe(404);
  });

  it('rejects out-of-range TTLs and invalid keys when signing', async () => {
    await expect(store.signedReadUrl!('a/b', 0)).rejects.toMatchObject({ code: 'Unsupported' });
    await expect(store.signedReadUrl!('../b', 60)).rejects.toMatchObject({ code: 'InvalidKey' });
  });

  it('reports an unreachable service as Unavailable', async () => {
    const closedPort = azurite.connectionString.replace(`127.0.0.1:${azurite.port}`, '127.0.0.1:1');
    const unreachable = new AzureBlobStore({ connectionString: closedPort, container: 'nowhere', pipeline: { retryOptions: { maxTries: 1 } } });
    await expect(unreachable.stat('a/b')).rejects.toMatchObject({ name: 'StorageError', code: 'Unavailable', driver: 'azure-blob' });
    await expect(unreachable.init()).rejects.toMatchObject({ code: 'Unavailable' });
  });
});
