import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

const BLOCK = 512;

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A ustar header for one regular file. */
function tarHeader(name: string, size: number, mtime: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100);
  header.write(octal(0, 8), 108);
  header.write(octal(0, 8), 116);
  header.write(octal(size, 12), 124);
  header.write(octal(mtime, 12), 136);
  header.fill(' ', 148, 156); // the checksum is computed with its own field as spaces
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

/** A tar archive holding one file of random bytes. */
function randomTar(fileName: string, size: number): Buffer {
  const data = randomBytes(size);
  const padding = Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
  return Buffer.concat([tarHeader(fileName, size, Math.floor(Date.now() / 1000)), data, padding, Buffer.alloc(2 * BLOCK)]);
}

export interface ImageLayout {
  dir: string;
  reference: string;
  manifestDigest: string;
  totalBytes: number;
}

/**
 * Writes an OCI image layout by hand: `layers` gzip'd tar layers of random
 * content, a config whose rootfs lists their diff_ids, one image manifest
 * and an index naming it `reference`. Random content makes every call a new
 * image, so no registry can skip uploads it has seen before.
 */
export async function buildImageLayout(dir: string, layerBytes: number, layers = 3, reference = 'v1'): Promise<ImageLayout> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (bytes: Buffer): Promise<string> => {
    const hex = sha256Hex(bytes);
    await writeFile(path.join(blobs, hex), bytes);
    return `sha256:${hex}`;
  };
  let totalBytes = 0;
  const layerDescriptors: Array<{ mediaType: string; digest: string; size: number }> = [];
  const diffIds: string[] = [];
  for (let i = 0; i < layers; i += 1) {
    const tar = randomTar(`layer${i}/data.bin`, layerBytes);
    diffIds.push(`sha256:${sha256Hex(tar)}`);
    const gz = gzipSync(tar, { level: 1 });
    layerDescriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(gz), size: gz.length });
    totalBytes += gz.length;
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: new Date().toISOString(),
      config: { Cmd: ['/bin/true'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layerDescriptors,
    }),
  );
  const manifestDigest = await put(manifest);
  totalBytes += config.length + manifest.length;
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        size: manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': reference },
      },
    ],
  };
  await writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { dir, reference, manifestDigest, totalBytes };
}
