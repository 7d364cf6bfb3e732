import type { EventRequestInfo } from '@berth/events';
import {
  digestOf,
  isImageConfigMediaType,
  OciError,
  parseManifest,
  type ManifestReference,
  type ParsedManifest,
} from '@berth/oci';
import type { BlobStore } from '@berth/storage';
import { lockedError, readDisabled } from '../limits/limit-errors';
import type { Logger } from '../observability/logger';
import type { RegistryInfo } from '../registries/registry-info';
import { ManifestWriteRefused, newEventId, type LinkedBlob, type ManifestRepository, type StoredManifest } from './manifest.repository';

/** Configs bigger than this are not read for architecture/os (they are metadata for listings only). */
const MAX_CONFIG_READ_BYTES = 1024 * 1024;

export interface PushedManifest {
  digest: string;
  subject: string | undefined;
}

/** Manifest push, pull and delete rules. */
export class ManifestService {
  constructor(
    private readonly manifests: ManifestRepository,
    private readonly store: BlobStore,
    private readonly log: Logger,
  ) {}

  async get(registry: RegistryInfo, repositoryName: string, reference: ManifestReference, withPayload: boolean): Promise<StoredManifest> {
    const manifest =
      reference.kind === 'tag'
        ? await this.manifests.findByTag(registry.id, repositoryName, reference.tag, withPayload)
        : await this.manifests.findByDigest(registry.id, repositoryName, reference.digest.digest, withPayload);
    if (!manifest) {
      throw new OciError('MANIFEST_UNKNOWN', { detail: reference.kind === 'tag' ? { tag: reference.tag } : { digest: reference.digest.digest } });
    }
    if (!manifest.readable) throw readDisabled(`manifest ${repositoryName}:${reference.kind === 'tag' ? reference.tag : reference.digest.digest}`);
    return manifest;
  }

  /**
   * Validates and stores a pushed manifest. The digest is computed over the
   * exact bytes received (with the algorithm of a digest reference), every
   * referenced blob must be linked to the repository and every child manifest
   * present in it; a missing subject is allowed (OCI 1.1). The blobs are
   * checked once, inside the write transaction and under its locks (see
   * ManifestRepository.save).
   */
  async put(
    registry: RegistryInfo,
    repositoryName: string,
    reference: ManifestReference,
    payload: Buffer,
    contentType: string | undefined,
    request: EventRequestInfo,
  ): Promise<PushedManifest> {
    const digest = digestOf(payload, reference.kind === 'digest' ? reference.digest.algorithm : 'sha256');
    if (reference.kind === 'digest' && reference.digest.digest !== digest) {
      throw new OciError('DIGEST_INVALID', { message: 'manifest digest does not match the reference', detail: { expected: reference.digest.digest, actual: digest } });
    }
    const parsed = parseManifest(payload, contentType);

    // Checked inside the write transaction, against the blobs as locked there.
    const inspect = async (linked: ReadonlyMap<string, LinkedBlob>) => {
      for (const descriptor of parsed.blobs) {
        const blob = linked.get(descriptor.digest);
        if (blob && blob.size !== descriptor.size) {
          throw new OciError('MANIFEST_INVALID', {
            message: `descriptor size ${descriptor.size} of ${descriptor.digest} does not match the blob's ${blob.size} bytes`,
            detail: { digest: descriptor.digest },
          });
        }
      }
      return this.readPlatform(parsed, linked);
    };

    const tag = reference.kind === 'tag' ? reference.tag : undefined;
    try {
      await this.manifests.save(
        {
          registryId: registry.id,
          repositoryName,
          digest,
          mediaType: parsed.mediaType,
          artifactType: parsed.artifactType,
          payload,
          subjectDigest: parsed.subject?.digest,
          configDigest: parsed.config?.digest,
          configMediaType: parsed.config?.mediaType,
          inspect,
          annotations: parsed.annotations,
          blobDigests: [...new Set(parsed.blobs.map((blob) => blob.digest))],
          childDigests: [...new Set(parsed.manifests.map((child) => child.digest))],
          tag,
        },
        {
          eventId: newEventId(),
          timestamp: new Date().toISOString(),
          registryId: registry.id,
          registryName: registry.name,
          repository: repositoryName,
          tag,
          digest,
          mediaType: parsed.mediaType,
          size: payload.length,
          request,
        },
      );
    } catch (error) {
      if (!(error instanceof ManifestWriteRefused)) throw error;
      switch (error.reason) {
        case 'repository-locked':
          throw lockedError(`repository ${repositoryName}`, 'writeEnabled');
        case 'tag-locked':
          throw lockedError(`tag ${repositoryName}:${tag}`, 'writeEnabled');
        case 'missing-blobs': {
          // Garbage collection removed a blob between the check above and the write: the client uploads it again.
          const missing = error.detail as string[];
          throw new OciError('MANIFEST_BLOB_UNKNOWN', {
            message: `blob ${missing[0]} is not in repository ${repositoryName}`,
            detail: { digest: missing[0] },
          });
        }
        case 'missing-children': {
          const missing = error.detail as string[];
          throw new OciError('MANIFEST_BLOB_UNKNOWN', {
            message: `manifest ${missing[0]} referenced by the index is not in repository ${repositoryName}`,
            detail: missing.map((child) => ({ digest: child })),
          });
        }
        default:
          throw error;
      }
    }
    return { digest, subject: parsed.subject?.digest };
  }

  async delete(registry: RegistryInfo, repositoryName: string, reference: ManifestReference, request: EventRequestInfo): Promise<void> {
    try {
      if (reference.kind === 'tag') {
        await this.manifests.deleteTag(registry.id, repositoryName, reference.tag);
        return;
      }
      const digest = reference.digest.digest;
      await this.manifests.deleteByDigest(registry.id, repositoryName, digest, (mediaType) => ({
        eventId: newEventId(),
        timestamp: new Date().toISOString(),
        registryId: registry.id,
        registryName: registry.name,
        repository: repositoryName,
        digest,
        mediaType,
        request,
      }));
    } catch (error) {
      if (!(error instanceof ManifestWriteRefused)) throw error;
      const what = reference.kind === 'tag' ? `tag ${repositoryName}:${reference.tag}` : `manifest ${repositoryName}@${reference.digest.digest}`;
      switch (error.reason) {
        case 'unknown':
          throw new OciError('MANIFEST_UNKNOWN', { detail: reference.kind === 'tag' ? { tag: reference.tag } : { digest: reference.digest.digest } });
        case 'repository-locked':
          throw lockedError(`repository ${repositoryName}`, 'deleteEnabled');
        case 'tag-locked':
        case 'manifest-locked':
          throw lockedError(what, 'deleteEnabled');
        case 'referenced':
          throw new OciError('DENIED', {
            status: 409,
            message: `${what} is referenced by an index in this repository; delete the index first`,
          });
        default:
          throw error;
      }
    }
  }

  /** architecture/os from an image config (for ACR's manifest listings); best effort. */
  private async readPlatform(
    parsed: ParsedManifest,
    linked: ReadonlyMap<string, LinkedBlob>,
  ): Promise<{ architecture?: string; os?: string } | undefined> {
    const config = parsed.config;
    if (!config || !isImageConfigMediaType(config.mediaType) || config.size > MAX_CONFIG_READ_BYTES) return undefined;
    const blob = linked.get(config.digest);
    if (!blob) return undefined;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await this.store.read(blob.storageKey)) chunks.push(chunk as Buffer);
      const document = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { architecture?: unknown; os?: unknown };
      return {
        architecture: typeof document.architecture === 'string' ? document.architecture : undefined,
        os: typeof document.os === 'string' ? document.os : undefined,
      };
    } catch (error) {
      this.log.debug({ err: error, digest: config.digest }, 'could not read image config for platform');
      return undefined;
    }
  }
}
