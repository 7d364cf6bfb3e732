import { OciError } from '@berth/oci';

/**
 * Wire shapes of ACR's data-plane extension API (`/acr/v1`, api-version
 * 2021-07-01 of the Azure container registry data-plane spec). Field names
 * are ACR's, so the Azure SDKs and `az acr` deserialise our answers.
 */

/** The four lock attributes every repository, tag and manifest carries. */
export interface ChangeableAttributes {
  deleteEnabled: boolean;
  writeEnabled: boolean;
  readEnabled: boolean;
  listEnabled: boolean;
}

/** A PATCH: only the attributes named change. */
export type AttributeChanges = Partial<ChangeableAttributes>;

export const ATTRIBUTE_NAMES = ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const satisfies ReadonlyArray<keyof ChangeableAttributes>;

export interface RepositoryPropertiesDto {
  registry: string;
  imageName: string;
  createdTime: string;
  lastUpdateTime: string;
  manifestCount: number;
  tagCount: number;
  changeableAttributes: ChangeableAttributes;
}

export interface TagAttributesDto {
  name: string;
  digest: string;
  createdTime: string;
  lastUpdateTime: string;
  /** Docker Content Trust signing; Berth never signs. */
  signed: false;
  changeableAttributes: ChangeableAttributes;
}

export interface ManifestPlatformDto {
  digest: string;
  architecture: string | null;
  os: string | null;
}

export interface ManifestAttributesDto {
  digest: string;
  imageSize: number;
  createdTime: string;
  lastUpdateTime: string;
  architecture: string | null;
  os: string | null;
  mediaType: string;
  configMediaType: string | null;
  /** Child manifests of an index / manifest list; empty for a leaf manifest. */
  references: ManifestPlatformDto[];
  tags: string[];
  changeableAttributes: ChangeableAttributes;
}

export interface DeletedRepositoryDto {
  manifestsDeleted: string[];
  tagsDeleted: string[];
}

/**
 * Reads a PATCH body. ACR's clients send the attributes themselves
 * (`{"writeEnabled": false}`); a body wrapped as `{"changeableAttributes": {…}}`
 * (the shape the GET answers carry) is accepted too. Unknown keys are refused
 * rather than ignored: a misspelt lock attribute must not silently leave
 * content unlocked.
 */
export function parseAttributeChanges(body: Buffer): AttributeChanges {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch {
    throw new OciError('BAD_REQUEST', { message: 'the request body is not valid JSON' });
  }
  if (isPlainObject(document) && Object.keys(document).length === 1 && 'changeableAttributes' in document) {
    document = document.changeableAttributes;
  }
  if (!isPlainObject(document)) {
    throw new OciError('BAD_REQUEST', { message: 'the request body must be a JSON object of changeable attributes' });
  }
  const changes: AttributeChanges = {};
  for (const [key, value] of Object.entries(document)) {
    if (!(ATTRIBUTE_NAMES as readonly string[]).includes(key)) {
      throw new OciError('BAD_REQUEST', {
        message: `unknown attribute ${JSON.stringify(key)}; changeable attributes are ${ATTRIBUTE_NAMES.join(', ')}`,
        detail: { attribute: key },
      });
    }
    if (typeof value !== 'boolean') {
      throw new OciError('BAD_REQUEST', { message: `attribute ${key} must be a boolean`, detail: { attribute: key } });
    }
    changes[key as keyof ChangeableAttributes] = value;
  }
  return changes;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
