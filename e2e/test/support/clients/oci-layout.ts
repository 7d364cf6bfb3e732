import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

// Test images for the real-client tests, written as an OCI image layout
// (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// without any container engine: gzip'd tar layers made here, a config whose
// rootfs.diff_ids are the digests of the uncompressed tars, manifests and an
// index. skopeo reads such a directory with the `oci:<dir>:<ref>` transport.

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface Layer {
  /** The gzip'd tar, as stored in the registry. */
  blob: Buffer;
  digest: string;
  /** Digest of the uncompressed tar (the config's diff_id). */
  diffId: string;
}

export interface Image {
  manifest: Buffer;
  digest: string;
  config: Buffer;
  configDigest: string;
  layers: Layer[];
  platform: { architecture: string; os: string; variant?: string };
}

export interface ImageIndex {
  index: Buffer;
  digest: string;
  images: Image[];
}

export interface TarEntry {
  name: string;
  /** Omitted for a directory. */
  content?: Buffer;
}

/** A ustar header field: octal number, NUL-terminated, right-aligned in `width` bytes. */
function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/**
 * A minimal POSIX ustar archive (regular files and directories, names under
 * 100 bytes) — enough for every Go archive/tar reader, which is what skopeo
 * and podman's storage use to unpack layers.
 */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const isDir = entry.content === undefined;
    const name = isDir && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
    if (Buffer.byteLength(name) >= 100) throw new Error(`tar entry name too long: ${name}`);
    const size = entry.content?.length ?? 0;
    const header = Buffer.alloc(512);
    header.write(name, 0, 100, 'utf8');
    header.write(octal(isDir ? 0o755 : 0o644, 8), 100, 'ascii');
    header.write(octal(0, 8), 108, 'ascii'); // uid
    header.write(octal(0, 8), 116, 'ascii'); // gid
    header.write(octal(size, 12), 124, 'ascii');
    header.write(octal(1_700_000_000, 12), 136, 'ascii'); // fixed mtime: reproducible archives
    header.write('        ', 148, 'ascii'); // checksum is computed with its own field as spaces
    header.write(isDir ? '5' : '0', 156, 'ascii');
    header.write('ustar\0', 257, 'ascii');
    header.write('00', 263, 'ascii');
    header.write('root', 265, 'ascii');
    header.write('root', 297, 'ascii');
    let checksum = 0;
    for (const byte of header) checksum += byte;
    header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    parts.push(header);
    if (entry.content) {
      parts.push(entry.content);
      const padding = (512 - (size % 512)) % 512;
      if (padding > 0) parts.push(Buffer.alloc(padding));
    }
  }
  parts.push(Buffer.alloc(1024)); // end of archive: two zero blocks
  return Buffer.concat(parts);
}

/** A layer holding one directory with a random (incompressible) file of `bytes` bytes and a small text file. */
export function randomLayer(dir: string, bytes: number): Layer {
  const tarball = tar([
    { name: dir },
    { name: `${dir}/random.bin`, content: randomBytes(bytes) },
    { name: `${dir}/README`, content: Buffer.from(`layer ${dir}, ${bytes} random bytes\n`) },
  ]);
  const blob = gzipSync(tarball);
  return { blob, digest: sha256(blob), diffId: sha256(tarball) };
}

/** An image (config + manifest) over the given layers. */
export function buildImage(layers: Layer[], platform: Image['platform']): Image {
  const config = Buffer.from(
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
      history: layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `berth test layer ${i}` })),
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: layers.map((layer) => ({ mediaType: OCI_LAYER_GZIP, digest: layer.digest, size: layer.blob.length })),
      annotations: { 'org.opencontainers.image.title': 'berth client e2e' },
    }),
  );
  return { manifest, digest: sha256(manifest), config, configDigest, layers, platform };
}

/** An OCI image index over the given images, each with its platform. */
export function buildIndex(images: Image[]): ImageIndex {
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: images.map((image) => ({ mediaType: OCI_MANIFEST, digest: image.digest, size: image.manifest.length, platform: image.platform })),
    }),
  );
  return { index, digest: sha256(index), images };
}

/**
 * Writes an OCI image layout holding the given images and indexes, each
 * under its ref name (`oci:<dir>:<ref>`).
 */
export async function writeOciLayout(dir: string, refs: Record<string, Image | ImageIndex>): Promise<void> {
  const blobDir = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  const put = (digest: string, data: Buffer) => writeFile(path.join(blobDir, digest.slice('sha256:'.length)), data);
  const putImage = async (image: Image) => {
    for (const layer of image.layers) await put(layer.digest, layer.blob);
    await put(image.configDigest, image.config);
    await put(image.digest, image.manifest);
  };
  const manifests: Descriptor[] = [];
  for (const [ref, item] of Object.entries(refs)) {
    if ('index' in item) {
      for (const image of item.images) await putImage(image);
      await put(item.digest, item.index);
      manifests.push({ mediaType: OCI_INDEX, digest: item.digest, size: item.index.length, annotations: { [REF_NAME]: ref } });
    } else {
      await putImage(item);
      manifests.push({ mediaType: OCI_MANIFEST, digest: item.digest, size: item.manifest.length, annotations: { [REF_NAME]: ref } });
    }
  }
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

/** What an OCI layout written by a client holds under one ref name. */
export interface LayoutEntry {
  descriptor: Descriptor;
  /** Reads a blob of the layout, checking that its content matches its digest. */
  blob(digest: string): Promise<Buffer>;
}

export async function readOciLayout(dir: string, ref: string): Promise<LayoutEntry> {
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const descriptor = index.manifests.find((m) => m.annotations?.[REF_NAME] === ref);
  if (!descriptor) throw new Error(`no ref ${ref} in ${dir}/index.json: ${JSON.stringify(index)}`);
  return {
    descriptor,
    async blob(digest: string) {
      const [algorithm, hex] = digest.split(':');
      const data = await readFile(path.join(dir, 'blobs', algorithm!, hex!));
      if (sha256(data) !== digest) throw new Error(`blob ${digest} in ${dir} has digest ${sha256(data)}`);
      return data;
    },
  };
}
