import { parseDigest } from './digest';
import { OciError } from './errors';
import {
  MediaType,
  MANIFEST_MEDIA_TYPES,
  baseMediaType,
  isImageManifestMediaType,
  isIndexMediaType,
  isNonDistributableMediaType,
} from './media-types';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** An OCI content descriptor, validated. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  artifactType?: string;
  platform?: Platform;
}

/** What the registry needs to know about a pushed manifest. */
export interface ParsedManifest {
  /** The manifest's media type (from its `mediaType` field, the Content-Type, or its shape). */
  mediaType: string;
  kind: 'image' | 'index';
  artifactType?: string;
  config?: Descriptor;
  layers: Descriptor[];
  /** Blobs the repository must hold: the config and every distributable layer, each digest once. */
  blobs: Descriptor[];
  /** Child manifests of an index / manifest list. */
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** RFC 6838 type/subtype (parameters are not allowed in descriptors). */
const MEDIA_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function invalid(message: string, detail?: unknown): OciError {
  return new OciError('MANIFEST_INVALID', { message, detail });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseStringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw invalid(`${field} must be an object of strings`);
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw invalid(`${field}.${key} must be a string`);
  }
  return value as Record<string, string>;
}

function parseMediaTypeField(value: unknown, field: string): string {
  if (typeof value !== 'string' || !MEDIA_TYPE_PATTERN.test(value)) throw invalid(`${field} must be a media type`, { field });
  return value;
}

function parseDescriptor(value: unknown, field: string): Descriptor {
  if (!isObject(value)) throw invalid(`${field} must be a descriptor object`, { field });
  const mediaType = parseMediaTypeField(value.mediaType, `${field}.mediaType`);
  if (typeof value.digest !== 'string' || !parseDigest(value.digest)) {
    throw invalid(`${field}.digest is not a valid sha256 or sha512 digest`, { field, digest: value.digest });
  }
  const size = value.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${field}.size must be a non-negative integer`, { field });
  }
  const descriptor: Descriptor = { mediaType, digest: value.digest, size };
  if (value.urls !== undefined && value.urls !== null) {
    if (!Array.isArray(value.urls) || value.urls.some((url) => typeof url !== 'string')) {
      throw invalid(`${field}.urls must be an array of strings`);
    }
    descriptor.urls = value.urls as string[];
  }
  const annotations = parseStringMap(value.annotations, `${field}.annotations`);
  if (annotations) descriptor.annotations = annotations;
  if (value.artifactType !== undefined && value.artifactType !== null) {
    descriptor.artifactType = parseMediaTypeField(value.artifactType, `${field}.artifactType`);
  }
  if (value.platform !== undefined && value.platform !== null) {
    const platform = value.platform;
    if (!isObject(platform) || typeof platform.architecture !== 'string' || typeof platform.os !== 'string') {
      throw invalid(`${field}.platform must name architecture and os`);
    }
    descriptor.platform = { architecture: platform.architecture, os: platform.os };
    if (typeof platform.variant === 'string') descriptor.platform.variant = platform.variant;
  }
  return descriptor;
}

function parseDescriptorList(value: unknown, field: string): Descriptor[] {
  if (!Array.isArray(value)) throw invalid(`${field} must be an array`, { field });
  return value.map((entry, index) => parseDescriptor(entry, `${field}[${index}]`));
}

function resolveMediaType(document: Record<string, unknown>, contentType: string | undefined): string {
  const declared = document.mediaType;
  if (declared !== undefined && typeof declared !== 'string') throw invalid('mediaType must be a string');
  const fromHeader = contentType ? baseMediaType(contentType) : undefined;
  if (
    fromHeader === MediaType.DockerSchema1Manifest ||
    fromHeader === MediaType.DockerSchema1SignedManifest ||
    declared === MediaType.DockerSchema1Manifest ||
    declared === MediaType.DockerSchema1SignedManifest
  ) {
    throw invalid('Docker schema 1 manifests are not supported; push with schema 2 or OCI');
  }
  const headerIsManifestType = fromHeader !== undefined && MANIFEST_MEDIA_TYPES.includes(fromHeader);
  if (declared !== undefined) {
    if (!MANIFEST_MEDIA_TYPES.includes(declared)) throw invalid(`unsupported manifest media type ${declared}`, { mediaType: declared });
    if (headerIsManifestType && fromHeader !== declared) {
      throw invalid(`Content-Type ${fromHeader} does not match the manifest's mediaType ${declared}`);
    }
    return declared;
  }
  // The OCI image spec makes `mediaType` optional; the Content-Type (when it is
  // a manifest type) or the document's shape says what it is.
  if (headerIsManifestType) return fromHeader;
  if (Array.isArray(document.manifests)) return MediaType.OciIndex;
  if (document.config !== undefined) return MediaType.OciManifest;
  throw invalid('cannot tell the manifest type: set mediaType or Content-Type');
}

/**
 * Parses and validates a manifest payload: OCI image manifest or index, Docker
 * schema 2 manifest or manifest list (artifacts included). Throws
 * OciError('MANIFEST_INVALID') for malformed JSON, schema 1, a mismatched
 * media type or malformed descriptors. Existence of the referenced content is
 * the caller's check.
 */
export function parseManifest(payload: Uint8Array, contentType?: string): ParsedManifest {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(document)) throw invalid('manifest must be a JSON object');
  if (document.schemaVersion === 1) throw invalid('Docker schema 1 manifests are not supported; push with schema 2 or OCI');
  if (document.schemaVersion !== 2) throw invalid('schemaVersion must be 2');

  const mediaType = resolveMediaType(document, contentType);
  const artifactType =
    document.artifactType === undefined || document.artifactType === null
      ? undefined
      : parseMediaTypeField(document.artifactType, 'artifactType');
  const subject = document.subject === undefined || document.subject === null ? undefined : parseDescriptor(document.subject, 'subject');
  const annotations = parseStringMap(document.annotations, 'annotations');

  if (isImageManifestMediaType(mediaType)) {
    const config = parseDescriptor(document.config, 'config');
    const layers = parseDescriptorList(document.layers, 'layers');
    const blobs: Descriptor[] = [];
    const seen = new Set<string>();
    for (const descriptor of [config, ...layers]) {
      const external = isNonDistributableMediaType(descriptor.mediaType) && (descriptor.urls?.length ?? 0) > 0;
      if (external || seen.has(descriptor.digest)) continue;
      seen.add(descriptor.digest);
      blobs.push(descriptor);
    }
    return { mediaType, kind: 'image', artifactType, config, layers, blobs, manifests: [], subject, annotations };
  }
  if (isIndexMediaType(mediaType)) {
    const manifests = parseDescriptorList(document.manifests, 'manifests');
    return { mediaType, kind: 'index', artifactType, layers: [], blobs: [], manifests, subject, annotations };
  }
  throw invalid(`unsupported manifest media type ${mediaType}`);
}

/**
 * The artifact type a referrers response reports for a manifest: its
 * `artifactType`, else its config's media type (OCI Distribution 1.1).
 */
export function referrerArtifactType(manifest: Pick<ParsedManifest, 'artifactType' | 'config'>): string | undefined {
  return manifest.artifactType ?? manifest.config?.mediaType;
}
