import { Inject, Injectable } from '@nestjs/common';
import type { SecretHasher } from '@berth/auth';
import type { Db } from '@berth/db';
import { CommonException, CommonExceptionCode } from '../common/common.exception';
import { UUID_PATTERN } from '../common/patterns';
import { DB, SECRET_HASHER } from '../common/tokens';

/**
 * Management calls made by a service principal (`Authorization: Basic
 * <clientId:secret>`, the credentials it logs in to the registry with):
 * allowed on the routes of its own registry when it holds Owner on all of
 * it, as an Azure Owner manages its registry. Operator-wide routes (creating
 * and listing registries, API keys, SKUs) stay with operator API keys.
 */
@Injectable()
export class OwnerAuthenticator {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(SECRET_HASHER) private readonly hasher: SecretHasher,
  ) {}

  /**
   * Resolves when the Basic credentials (parseBasicAuth's result; undefined
   * when malformed) name a live secret of a principal of registry
   * `registryName` with a registry-wide Owner assignment. UNAUTHENTICATED
   * when they are malformed, unknown, expired or another registry's;
   * FORBIDDEN when the principal lacks that role.
   */
  async authenticate(registryName: string, credentials: { username: string; password: string } | undefined): Promise<void> {
    const clientId = credentials?.username ?? '';
    const secret = credentials?.password ?? '';
    const invalid = new CommonException(
      CommonExceptionCode.Unauthenticated,
      `The service principal credentials are not valid for registry ${registryName}.`,
    );
    if (!UUID_PATTERN.test(clientId) || secret === '') throw invalid;
    const found = await this.db.servicePrincipalSecret.findFirst({
      where: {
        secretHash: this.hasher.hash(secret),
        expiresAt: { gt: new Date() },
        principal: { clientId: clientId.toLowerCase(), registry: { name: registryName.toLowerCase() } },
      },
      select: { principal: { select: { roles: { where: { role: 'Owner' }, select: { repositories: true } } } } },
    });
    if (!found) throw invalid;
    if (!found.principal.roles.some((role) => role.repositories.length === 0)) {
      throw new CommonException(
        CommonExceptionCode.Forbidden,
        `Service principal ${clientId} needs the Owner role on all of registry ${registryName} to call the management API.`,
      );
    }
  }
}
