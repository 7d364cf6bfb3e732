import { Inject, Injectable } from '@nestjs/common';
import { SecretHasher, constantTimeEqual, generateApiKey, parseApiKey } from '@berth/auth';
import type { BerthConfig } from '@berth/config';
import { CommonException, CommonExceptionCode } from '../common/common.exception';
import { CONFIG, SECRET_HASHER } from '../common/tokens';
import { ApiKeyDto, ApiKeyListDto, CreatedApiKeyDto } from './api-keys.dto';
import { ApiKeyException, ApiKeyExceptionCode } from './api-keys.exception';
import { ApiKeyRecord, ApiKeysRepository } from './api-keys.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toDto(row: ApiKeyRecord): ApiKeyDto {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

@Injectable()
export class ApiKeysService {
  constructor(
    private readonly keys: ApiKeysRepository,
    @Inject(SECRET_HASHER) private readonly hasher: SecretHasher,
    @Inject(CONFIG) private readonly config: BerthConfig,
  ) {}

  async create(name: string): Promise<CreatedApiKeyDto> {
    const { key, prefix } = generateApiKey();
    const row = await this.keys.createKey(name.trim(), prefix, this.hasher.hash(key));
    return { ...toDto(row), key };
  }

  async list(): Promise<ApiKeyListDto> {
    return { value: (await this.keys.listKeys()).map(toDto) };
  }

  async revoke(id: string): Promise<void> {
    const row = UUID.test(id) ? await this.keys.revokeKey(id) : null;
    if (!row) throw new ApiKeyException(ApiKeyExceptionCode.NotFound, `There is no API key ${id}.`);
  }

  /**
   * Accepts the bootstrap key from the configuration (compared in constant
   * time) or an unrevoked stored key; anything else is a 401.
   */
  async authenticate(authorization: string | string[] | undefined): Promise<void> {
    const match = typeof authorization === 'string' ? /^Bearer +(\S+) *$/i.exec(authorization) : null;
    if (!match) {
      throw new CommonException(
        CommonExceptionCode.Unauthenticated,
        'Send an operator API key as "Authorization: Bearer <key>".',
      );
    }
    const key = match[1]!;
    const bootstrap = this.config.bootstrapApiKey;
    if (bootstrap !== undefined && constantTimeEqual(key, bootstrap)) return;

    const invalid = new CommonException(CommonExceptionCode.Unauthenticated, 'The API key is not valid.');
    const parsed = parseApiKey(key);
    if (!parsed) throw invalid;
    const row = await this.keys.findKeyByPrefix(parsed.prefix);
    if (!row || !this.hasher.verify(key, row.keyHash)) throw invalid;
    if (row.revokedAt) throw new CommonException(CommonExceptionCode.Unauthenticated, 'The API key has been revoked.');
    await this.keys.recordKeyUse(row.id);
  }
}
