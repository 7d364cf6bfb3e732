import { RepositoryBusy } from '@berth/db/plain';
import type { EventRequestInfo } from '@berth/events';
import { OciError } from '@berth/oci';
import type { ListingRepository } from '../listing/listing.repository';
import type { ManifestService } from '../manifests/manifest.service';
import type { RegistryInfo } from '../registries/registry-info';
import type {
  AttributeChanges,
  ChangeableAttributes,
  DeletedRepositoryDto,
  ManifestAttributesDto,
  RepositoryPropertiesDto,
  TagAttributesDto,
} from './acr.dto';
import type { AcrRepository, ManifestRecord, PageRequest, TagRecord } from './acr.repository';

export interface Page<T> {
  items: T[];
  /** The cursor of the next page (`last`), when there is one. */
  next: string | undefined;
}

/**
 * ACR's repository, tag and manifest metadata with its lock attributes.
 * Reading metadata is allowed whatever readEnabled says (that attribute
 * blocks pulls, and an owner must be able to see and clear a lock); listing
 * hides listEnabled=false rows.
 */
export class AcrService {
  constructor(
    private readonly acr: AcrRepository,
    private readonly listing: ListingRepository,
    private readonly manifests: ManifestService,
  ) {}

  async catalog(registry: RegistryInfo, last: string, n: number): Promise<Page<string>> {
    if (n === 0) return { items: [], next: undefined };
    return paginate(await this.listing.repositoryNames(registry.id, last, n + 1), n, (name) => name);
  }

  async getRepository(registry: RegistryInfo, name: string): Promise<RepositoryPropertiesDto> {
    const repository = await this.acr.findRepository(registry.id, name);
    if (!repository) throw nameUnknown(name);
    return {
      registry: registry.loginServer,
      imageName: repository.name,
      createdTime: repository.createdAt.toISOString(),
      lastUpdateTime: repository.lastUpdatedAt.toISOString(),
      manifestCount: repository.manifestCount,
      tagCount: repository.tagCount,
      changeableAttributes: repository.attributes,
    };
  }

  async updateRepository(registry: RegistryInfo, name: string, changes: AttributeChanges): Promise<RepositoryPropertiesDto> {
    if (hasChanges(changes) && !(await this.acr.updateRepositoryAttributes(registry.id, name, changes))) throw nameUnknown(name);
    return this.getRepository(registry, name);
  }

  async deleteRepository(registry: RegistryInfo, name: string, request: EventRequestInfo): Promise<DeletedRepositoryDto> {
    let result;
    try {
      result = await this.acr.deleteRepository({ registryId: registry.id, registryName: registry.name, name, request });
    } catch (error) {
      if (error instanceof RepositoryBusy) {
        throw new OciError('UNAVAILABLE', { message: `repository ${name} is being written to; retry the delete`, headers: { 'Retry-After': '1' } });
      }
      throw error;
    }
    switch (result.kind) {
      case 'unknown':
        throw nameUnknown(name);
      case 'locked': {
        const blockers = [
          ...(result.repository ? [`repository ${name}`] : []),
          ...result.manifests.map((digest) => `manifest ${name}@${digest}`),
          ...result.tags.map((tag) => `tag ${name}:${tag}`),
        ];
        throw new OciError('DENIED', {
          status: 405,
          message: `repository ${name} cannot be deleted: ${blockers.join(', ')} ${blockers.length === 1 ? 'is' : 'are'} locked (deleteEnabled=false)`,
          detail: { attribute: 'deleteEnabled', repository: result.repository, manifests: result.manifests, tags: result.tags },
        });
      }
      case 'deleted':
        return { manifestsDeleted: result.manifestsDeleted, tagsDeleted: result.tagsDeleted };
    }
  }

  async listTags(
    registry: RegistryInfo,
    name: string,
    page: PageRequest,
    digest: string | undefined,
  ): Promise<{ registry: string; imageName: string; page: Page<TagAttributesDto> }> {
    const repositoryId = await this.repositoryId(registry, name);
    const rows = page.limit === 0 ? [] : await this.acr.listTags(registry.id, repositoryId, { ...page, limit: page.limit + 1 }, digest);
    return { registry: registry.loginServer, imageName: name, page: paginate(rows.map(tagDto), page.limit, (tag) => tag.name) };
  }

  async getTag(registry: RegistryInfo, name: string, tag: string): Promise<{ registry: string; imageName: string; tag: TagAttributesDto }> {
    const repositoryId = await this.repositoryId(registry, name);
    const found = await this.acr.findTag(registry.id, repositoryId, tag);
    if (!found) throw tagUnknown(tag);
    return { registry: registry.loginServer, imageName: name, tag: tagDto(found) };
  }

  async updateTag(registry: RegistryInfo, name: string, tag: string, changes: AttributeChanges) {
    const repositoryId = await this.repositoryId(registry, name);
    if (hasChanges(changes) && !(await this.acr.updateTagAttributes(registry.id, repositoryId, tag, changes))) throw tagUnknown(tag);
    return this.getTag(registry, name, tag);
  }

  /** Untags (the manifest stays), with the /v2 tag delete's rules: refused when the tag or repository has deleteEnabled=false. */
  async deleteTag(registry: RegistryInfo, name: string, tag: string, request: EventRequestInfo): Promise<void> {
    await this.repositoryId(registry, name);
    await this.manifests.delete(registry, name, { kind: 'tag', tag }, request);
  }

  async listManifests(
    registry: RegistryInfo,
    name: string,
    page: PageRequest,
  ): Promise<{ registry: string; imageName: string; page: Page<ManifestAttributesDto> }> {
    const repositoryId = await this.repositoryId(registry, name);
    const rows = page.limit === 0 ? [] : await this.acr.listManifests(registry.id, repositoryId, { ...page, limit: page.limit + 1 });
    return { registry: registry.loginServer, imageName: name, page: paginate(rows.map(manifestDto), page.limit, (manifest) => manifest.digest) };
  }

  async getManifest(registry: RegistryInfo, name: string, digest: string): Promise<{ registry: string; imageName: string; manifest: ManifestAttributesDto }> {
    const repositoryId = await this.repositoryId(registry, name);
    const found = await this.acr.findManifest(registry.id, repositoryId, digest);
    if (!found) throw new OciError('MANIFEST_UNKNOWN', { detail: { digest } });
    return { registry: registry.loginServer, imageName: name, manifest: manifestDto(found) };
  }

  async updateManifest(registry: RegistryInfo, name: string, digest: string, changes: AttributeChanges) {
    const repositoryId = await this.repositoryId(registry, name);
    if (hasChanges(changes) && !(await this.acr.updateManifestAttributes(registry.id, repositoryId, digest, changes))) {
      throw new OciError('MANIFEST_UNKNOWN', { detail: { digest } });
    }
    return this.getManifest(registry, name, digest);
  }

  private async repositoryId(registry: RegistryInfo, name: string): Promise<string> {
    const id = await this.listing.repositoryId(registry.id, name);
    if (!id) throw nameUnknown(name);
    return id;
  }
}

/** `rows` holds up to limit + 1 items; the extra one only says another page exists. */
function paginate<T>(rows: T[], limit: number, cursor: (item: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const next = rows.length > limit && items.length > 0 ? cursor(items[items.length - 1]!) : undefined;
  return { items, next };
}

function hasChanges(changes: AttributeChanges): boolean {
  return Object.keys(changes).length > 0;
}

function nameUnknown(name: string): OciError {
  return new OciError('NAME_UNKNOWN', { message: `repository ${name} is not known to registry`, detail: { name } });
}

function tagUnknown(tag: string): OciError {
  return new OciError('MANIFEST_UNKNOWN', { message: `tag ${tag} is not known to registry`, detail: { tag } });
}

function tagDto(tag: TagRecord): TagAttributesDto {
  return {
    name: tag.name,
    digest: tag.digest,
    createdTime: tag.createdAt.toISOString(),
    lastUpdateTime: tag.updatedAt.toISOString(),
    signed: false,
    changeableAttributes: tag.attributes satisfies ChangeableAttributes,
  };
}

function manifestDto(manifest: ManifestRecord): ManifestAttributesDto {
  return {
    digest: manifest.digest,
    imageSize: manifest.imageSize,
    createdTime: manifest.createdAt.toISOString(),
    lastUpdateTime: manifest.updatedAt.toISOString(),
    architecture: manifest.architecture,
    os: manifest.os,
    mediaType: manifest.mediaType,
    configMediaType: manifest.configMediaType,
    references: manifest.references,
    tags: manifest.tags,
    changeableAttributes: manifest.attributes,
  };
}
