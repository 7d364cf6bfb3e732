import { constantTimeEqual, openAdminPassword, TokenError, type SecretBox, type SecretHasher, type TokenIdentity, type TokenService } from '@berth/auth';
import type { RegistryInfo } from '../registries/registry-info';
import type { IdentityRepository } from './identity.repository';
import { Permissions } from './permissions';

/** Docker's convention: this username means "the password is a refresh (identity) token". */
export const REFRESH_TOKEN_USERNAME = '00000000-0000-0000-0000-000000000000';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Identity =
  | { kind: 'admin'; subject: string }
  | { kind: 'principal'; subject: string; principalId: string; secretId: string }
  | { kind: 'anonymous'; subject: '' };

/**
 * Turns presented credentials into an identity of one registry, and an
 * identity into its permissions there. Every call reads the database fresh,
 * so a disabled admin user or a revoked secret stops working at once (tokens
 * already issued live until they expire, minutes at most).
 */
export class IdentityService {
  constructor(
    private readonly identities: IdentityRepository,
    private readonly box: SecretBox,
    private readonly hasher: SecretHasher,
    private readonly tokens: TokenService,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async authenticatePassword(registry: RegistryInfo, username: string, password: string): Promise<Identity | undefined> {
    if (!username || !password) return undefined;
    if (username === REFRESH_TOKEN_USERNAME) return this.authenticateRefreshToken(registry, password);
    if (username.toLowerCase() === registry.name) return this.authenticateAdmin(registry, password);
    if (UUID_PATTERN.test(username)) return this.authenticatePrincipal(registry, username.toLowerCase(), password);
    return undefined;
  }

  /** A refresh token of this registry whose identity is still valid. */
  async authenticateRefreshToken(registry: RegistryInfo, token: string): Promise<Identity | undefined> {
    let identity: TokenIdentity;
    try {
      const claims = this.tokens.verifyRefreshToken(token, registry.loginServer);
      if (claims.rid !== registry.id) return undefined;
      identity = claims.identity;
    } catch (error) {
      if (error instanceof TokenError) return undefined;
      throw error;
    }
    switch (identity?.kind) {
      case 'admin':
        return (await this.identities.isAdminUserEnabled(registry.id)) ? { kind: 'admin', subject: registry.name } : undefined;
      case 'principal': {
        if (typeof identity.principalId !== 'string' || typeof identity.secretId !== 'string') return undefined;
        if (!UUID_PATTERN.test(identity.principalId) || !UUID_PATTERN.test(identity.secretId)) return undefined;
        const active = await this.identities.isSecretActive(registry.id, identity.principalId, identity.secretId, this.now());
        return active
          ? { kind: 'principal', subject: active.clientId, principalId: identity.principalId, secretId: identity.secretId }
          : undefined;
      }
      default:
        return undefined;
    }
  }

  async permissions(registry: RegistryInfo, identity: Identity): Promise<Permissions> {
    switch (identity.kind) {
      case 'admin':
        return Permissions.admin();
      case 'principal':
        return Permissions.fromRoles(await this.identities.findRoleAssignments(registry.id, identity.principalId));
      case 'anonymous':
        return Permissions.anonymous(registry.anonymousPullEnabled);
    }
  }

  /** The refresh-token form of an identity (anonymous callers get none). */
  tokenIdentity(identity: Identity): TokenIdentity | undefined {
    switch (identity.kind) {
      case 'admin':
        return { kind: 'admin' };
      case 'principal':
        return { kind: 'principal', principalId: identity.principalId, secretId: identity.secretId };
      case 'anonymous':
        return undefined;
    }
  }

  private async authenticateAdmin(registry: RegistryInfo, password: string): Promise<Identity | undefined> {
    const { enabled, sealed } = await this.identities.findAdminCredentials(registry.id);
    if (!enabled) return undefined;
    let matched = false;
    for (const credential of sealed) {
      let value: string;
      try {
        value = openAdminPassword(this.box, registry.id, credential.name, credential.encryptedValue);
      } catch {
        continue; // a row sealed for another registry or key never matches
      }
      if (constantTimeEqual(value, password)) matched = true;
    }
    return matched ? { kind: 'admin', subject: registry.name } : undefined;
  }

  private async authenticatePrincipal(registry: RegistryInfo, clientId: string, secret: string): Promise<Identity | undefined> {
    const found = await this.identities.findActiveSecret(registry.id, clientId, this.hasher.hash(secret), this.now());
    return found ? { kind: 'principal', subject: clientId, principalId: found.principalId, secretId: found.secretId } : undefined;
  }
}
