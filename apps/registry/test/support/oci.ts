import { randomBytes } from 'node:crypto';
import { digestOf, MediaType } from '@berth/oci';
import type { RegistryClient, TestResponse } from './client';

export interface TestBlob {
  data: Buffer;
  digest: string;
  size: number;
}

export function testBlob(content?: string | Buffer): TestBlob {
  const data = content === undefined ? randomBytes(64) : Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { data, digest: digestOf(data), size: data.length };
}

export function descriptor(blob: TestBlob, mediaType: string, extra: Record<string, unknown> = {}) {
  return { mediaType, digest: blob.digest, size: blob.size, ...extra };
}

export function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

export function imageConfig(architecture = 'amd64', os = 'linux'): TestBlob {
  return testBlob(JSON.stringify({ architecture, os, rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
}

export function ociManifest(config: TestBlob, layers: TestBlob[], extra: Record<string, unknown> = {}): Buffer {
  return json({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: descriptor(config, MediaType.OciImageConfig),
    layers: layers.map((layer) => descriptor(layer, 'application/vnd.oci.image.layer.v1.tar+gzip')),
    ...extra,
  });
}

/** Monolithic upload (`POST ?digest=`); throws unless 201. */
export async function pushBlob(client: RegistryClient, repository: string, blob: TestBlob): Promise<TestResponse> {
  const res = await client.post(`/v2/${repository}/blobs/uploads/?digest=${blob.digest}`, {
    body: blob.data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (res.status !== 201) throw new Error(`blob push failed: ${res.status} ${res.text()}`);
  return res;
}

export async function pushManifest(client: RegistryClient, repository: string, reference: string, payload: Buffer, mediaType: string = MediaType.OciManifest): Promise<TestResponse> {
  return client.put(`/v2/${repository}/manifests/${reference}`, { body: payload, headers: { 'content-type': mediaType } });
}

/** Pushes config + layers + manifest; returns the manifest's digest and parts. */
export async function pushImage(client: RegistryClient, repository: string, tag: string, layerCount = 2) {
  const config = imageConfig();
  const layers = Array.from({ length: layerCount }, () => testBlob());
  for (const blob of [config, ...layers]) await pushBlob(client, repository, blob);
  const manifest = ociManifest(config, layers);
  const res = await pushManifest(client, repository, tag, manifest);
  if (res.status !== 201) throw new Error(`manifest push failed: ${res.status} ${res.text()}`);
  return { config, layers, manifest, digest: digestOf(manifest) };
}
