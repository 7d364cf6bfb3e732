/** Media types the registry understands. */
export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciImageConfig: 'application/vnd.oci.image.config.v1+json',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerImageConfig: 'application/vnd.docker.container.image.v1+json',
  DockerSchema1Manifest: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1SignedManifest: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  OctetStream: 'application/octet-stream',
} as const;

/** Manifest media types the registry stores and serves. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.OciManifest,
  MediaType.OciIndex,
  MediaType.DockerManifest,
  MediaType.DockerManifestList,
];

/** Image manifests (config + layers), as opposed to indexes. */
export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** Indexes and manifest lists (descriptors of child manifests). */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/** Config media types whose JSON carries `architecture` and `os`. */
export function isImageConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciImageConfig || mediaType === MediaType.DockerImageConfig;
}

/**
 * Layers that may live outside the registry (Docker foreign layers, OCI
 * non-distributable layers): when they carry `urls`, the registry does not
 * require the blob, as Distribution does not.
 */
export function isNonDistributableMediaType(mediaType: string): boolean {
  return mediaType.includes('.foreign.') || mediaType.includes('nondistributable');
}

/** Strips parameters (`; charset=…`) and case from a Content-Type value. */
export function baseMediaType(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}
