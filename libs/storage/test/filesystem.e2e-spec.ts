import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createBlobStore, FilesystemBlobStore } from '../src';
import { describeBlobStoreConformance } from '../src/testing/blob-store-conformance';

describeBlobStoreConformance('filesystem', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-fs-store-'));
  const root = path.join(dir, 'storage'); // created by createBlobStore
  const store = await createBlobStore({ driver: 'filesystem', path: root });
  return {
    store,
    cleanup: () => rm(dir, { recursive: true, force: true }),
    // Files and directories alike: deletes must prune the directories they emptied.
    leftovers: async () => readdir(root, { recursive: true }),
  };
});

describe('FilesystemBlobStore without the wrapper', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-fs-raw-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('still refuses keys that would escape its root', async () => {
    const store = new FilesystemBlobStore(path.join(dir, 'root'));
    await store.init();
    await expect(store.appendUpload('../escape', 0, Readable.from([Buffer.from('x')]), [])).rejects.toMatchObject({ code: 'InvalidKey' });
    await expect(store.stat('a/../../escape')).rejects.toMatchObject({ code: 'InvalidKey' });
    expect(await readdir(dir)).toEqual(['root']);
  });
});
