import { OciError } from './errors';
import { parseManifest, referrerArtifactType } from './manifest';
import { MediaType } from './media-types';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function expectInvalid(payload: Buffer, contentType?: string, message?: RegExp): void {
  let caught: unknown;
  try {
    parseManifest(payload, contentType);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(OciError);
  expect((caught as OciError).code).toBe('MANIFEST_INVALID');
  if (message) expect((caught as OciError).message).toMatch(message);
}

const image = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: MediaType.OciImageConfig, digest: d('c'), size: 10 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('1'), size: 100 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 200 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('1'), size: 100 },
  ],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
};

describe('parseManifest', () => {
  it('parses an OCI image manifest: config, layers, blobs each once, annotations', () => {
    const parsed = parseManifest(json(image), MediaType.OciManifest);
    expect(parsed.kind).toBe('image');
    expect(parsed.mediaType).toBe(MediaType.OciManifest);
    expect(parsed.config?.digest).toBe(d('c'));
    expect(parsed.layers).toHaveLength(3);
    expect(parsed.blobs.map((b) => b.digest)).toEqual([d('c'), d('1'), d('2')]);
    expect(parsed.annotations).toEqual(image.annotations);
    expect(parsed.subject).toBeUndefined();
    expect(referrerArtifactType(parsed)).toBe(MediaType.OciImageConfig);
  });

  it('parses an artifact with artifactType, an empty config and a subject', () => {
    const artifact = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/vnd.example.sbom.v1',
      config: { mediaType: MediaType.OciEmpty, digest: d('4'), size: 2 },
      layers: [{ mediaType: 'application/vnd.example.sbom.v1+json', digest: d('5'), size: 7 }],
      subject: { mediaType: MediaType.OciManifest, digest: d('6'), size: 500 },
    };
    const parsed = parseManifest(json(artifact));
    expect(parsed.artifactType).toBe('application/vnd.example.sbom.v1');
    expect(parsed.subject?.digest).toBe(d('6'));
    expect(referrerArtifactType(parsed)).toBe('application/vnd.example.sbom.v1');
  });

  it('parses Docker schema 2 manifests, skipping foreign layers with urls', () => {
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerImageConfig, digest: d('c'), size: 10 },
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d('1'), size: 1 },
        { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: d('2'), size: 1, urls: ['https://example.com/x'] },
      ],
    };
    const parsed = parseManifest(json(manifest), MediaType.DockerManifest);
    expect(parsed.blobs.map((b) => b.digest)).toEqual([d('c'), d('1')]);
  });

  it('parses OCI indexes and Docker manifest lists with platforms', () => {
    for (const mediaType of [MediaType.OciIndex, MediaType.DockerManifestList]) {
      const index = {
        schemaVersion: 2,
        mediaType,
        manifests: [
          { mediaType: MediaType.OciManifest, digest: d('a'), size: 10, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: MediaType.OciManifest, digest: d('b'), size: 11, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
        ],
      };
      const parsed = parseManifest(json(index), mediaType);
      expect(parsed.kind).toBe('index');
      expect(parsed.blobs).toEqual([]);
      expect(parsed.manifests.map((m) => m.platform)).toEqual([
        { architecture: 'amd64', os: 'linux' },
        { architecture: 'arm64', os: 'linux', variant: 'v8' },
      ]);
    }
  });

  it('infers the media type from the Content-Type or the shape when the field is absent', () => {
    const { mediaType: _omit, ...bare } = image;
    expect(parseManifest(json(bare), `${MediaType.OciManifest}; charset=utf-8`).mediaType).toBe(MediaType.OciManifest);
    expect(parseManifest(json(bare)).mediaType).toBe(MediaType.OciManifest);
    expect(parseManifest(json({ schemaVersion: 2, manifests: [] }), 'application/json').mediaType).toBe(MediaType.OciIndex);
  });

  it('rejects malformed input', () => {
    expectInvalid(Buffer.from('{not json'), undefined, /JSON/);
    expectInvalid(Buffer.from('[]'));
    expectInvalid(Buffer.from('null'));
    expectInvalid(json({ ...image, schemaVersion: 3 }));
    expectInvalid(json({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), undefined, /schema 1/);
    expectInvalid(json(image), MediaType.DockerSchema1SignedManifest, /schema 1/);
    expectInvalid(json(image), MediaType.OciIndex, /does not match/);
    expectInvalid(json({ ...image, mediaType: 'application/x-unknown' }));
    expectInvalid(json({ ...image, config: undefined }));
    expectInvalid(json({ ...image, layers: 'x' }));
    expectInvalid(json({ ...image, layers: [{ mediaType: 'a/b', digest: 'sha256:XYZ', size: 1 }] }), undefined, /digest/);
    expectInvalid(json({ ...image, layers: [{ mediaType: 'a/b', digest: d('1'), size: -1 }] }), undefined, /size/);
    expectInvalid(json({ ...image, layers: [{ mediaType: 'a/b', digest: d('1'), size: 1.5 }] }), undefined, /size/);
    expectInvalid(json({ ...image, layers: [{ mediaType: 'not a type', digest: d('1'), size: 1 }] }), undefined, /mediaType/);
    expectInvalid(json({ ...image, annotations: { a: 1 } }), undefined, /annotations/);
    expectInvalid(json({ ...image, subject: { digest: d('1') } }));
    expectInvalid(json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{ mediaType: MediaType.OciManifest, digest: d('1'), size: 1, platform: {} }] }));
    expectInvalid(json({ schemaVersion: 2 }), undefined, /cannot tell/);
  });
});
