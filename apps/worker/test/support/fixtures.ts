// Rows and bytes as the management API and the data plane would write them,
// created directly so the worker's tests do not depend on those apps.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { SecretBox } from '@berth/auth';
import type { BerthConfig } from '@berth/config';
import { writeOutboxEvent, type Db } from '@berth/db';
import { webhookSecretAad, type ImagePushPayload } from '@berth/events';
import { blobKey, type BlobStore } from '@berth/storage';

export async function createRegistry(
  db: Db,
  options: { name?: string; sku?: 'Basic' | 'Standard' | 'Premium'; deleting?: boolean; retentionDays?: number | null } = {},
) {
  const name = options.name ?? `reg${randomBytes(5).toString('hex')}`;
  return db.registry.create({
    data: {
      name,
      loginServer: `${name}.localhost`,
      skuName: options.sku ?? 'Premium',
      provisioningState: options.deleting ? 'Deleting' : 'Succeeded',
      retentionDays: options.retentionDays ?? null,
    },
  });
}

export interface WebhookFixture {
  uri: string;
  actions?: string[];
  scope?: string;
  headers?: Record<string, string>;
  signingSecret?: string;
  status?: 'enabled' | 'disabled';
  payloadFormat?: 'acr' | 'cloudevents';
  name?: string;
}

/** A webhook sealed the way the management API seals it (associated data per column, webhookSecretAad). */
export async function createWebhook(db: Db, config: BerthConfig, registryId: string, fixture: WebhookFixture) {
  const box = new SecretBox(config.secretKey);
  const id = randomUUID();
  return db.webhook.create({
    data: {
      id,
      registryId,
      name: fixture.name ?? `hook${randomBytes(4).toString('hex')}`,
      serviceUriEnc: box.seal(fixture.uri, webhookSecretAad(id, 'serviceUri')),
      customHeadersEnc: box.seal(JSON.stringify(fixture.headers ?? {}), webhookSecretAad(id, 'customHeaders')),
      signingSecretEnc: fixture.signingSecret ? box.seal(fixture.signingSecret, webhookSecretAad(id, 'signingSecret')) : null,
      actions: fixture.actions ?? ['push', 'delete'],
      scope: fixture.scope ?? '',
      status: fixture.status ?? 'enabled',
      payloadFormat: fixture.payloadFormat ?? 'acr',
    },
  });
}

export async function createRepository(db: Db, registryId: string, name: string, locks: { deleteEnabled?: boolean; writeEnabled?: boolean } = {}) {
  return db.repository.create({ data: { registryId, name, ...locks } });
}

/** Stores bytes as a finished upload and records the Blob, counting its size as the data plane does. */
export async function createBlob(
  db: Db,
  store: BlobStore,
  registryId: string,
  options: { bytes?: Buffer; lastUsedAt?: Date; repositoryId?: string } = {},
) {
  const bytes = options.bytes ?? randomBytes(64 + Math.floor(Math.random() * 64));
  const key = blobKey(registryId, randomUUID());
  const { parts } = await store.appendUpload(key, 0, Readable.from([bytes]), []);
  await store.completeUpload(key, parts);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return db.$transaction(async (tx) => {
    const blob = await tx.blob.create({
      data: { registryId, digest, size: BigInt(bytes.length), storageKey: key, lastUsedAt: options.lastUsedAt ?? new Date() },
    });
    await tx.registry.update({ where: { id: registryId }, data: { storageUsedBytes: { increment: BigInt(bytes.length) } } });
    if (options.repositoryId) await tx.repositoryBlob.create({ data: { repositoryId: options.repositoryId, blobId: blob.id } });
    return blob;
  });
}

export async function createManifest(
  db: Db,
  registryId: string,
  repositoryId: string,
  options: {
    blobIds?: bigint[];
    tags?: string[];
    untaggedAt?: Date | null;
    createdAt?: Date;
    deleteEnabled?: boolean;
    writeEnabled?: boolean;
    subjectDigest?: string;
    mediaType?: string;
    /** The same payload in two repositories is the same digest (counted once in usage). */
    payload?: Buffer;
  } = {},
) {
  const payload = options.payload ?? Buffer.from(JSON.stringify({ schemaVersion: 2, nonce: randomUUID() }));
  const digest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
  const manifest = await db.manifest.create({
    data: {
      registryId,
      repositoryId,
      digest,
      mediaType: options.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
      size: payload.length,
      payload: new Uint8Array(payload),
      untaggedAt: options.untaggedAt ?? null,
      subjectDigest: options.subjectDigest,
      deleteEnabled: options.deleteEnabled,
      writeEnabled: options.writeEnabled,
      ...(options.createdAt ? { createdAt: options.createdAt } : {}),
      blobRefs: { create: (options.blobIds ?? []).map((blobId) => ({ blobId })) },
    },
  });
  for (const tag of options.tags ?? []) {
    await db.tag.create({ data: { repositoryId, name: tag, manifestId: manifest.id } });
  }
  return manifest;
}

/** What the data plane writes on a manifest PUT, in the outbox. */
export async function writePushEvent(db: Db, registry: { id: string; name: string; loginServer: string }, overrides: Partial<ImagePushPayload> = {}) {
  const payload: ImagePushPayload = {
    eventId: randomUUID(),
    timestamp: new Date().toISOString(),
    registryId: registry.id,
    registryName: registry.name,
    repository: 'team/web',
    tag: 'v1',
    digest: `sha256:${randomBytes(32).toString('hex')}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: 1234,
    request: { id: randomUUID(), host: registry.loginServer, method: 'PUT', useragent: 'docker/27.0 go/1.22' },
    ...overrides,
  };
  const id = await db.$transaction((tx) => writeOutboxEvent(tx, { registryId: registry.id, type: 'image.push', payload }));
  return { id, payload };
}

export async function listKeys(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys.sort();
}
