import { Inject, Injectable } from '@nestjs/common';
import { ADMIN_PASSWORD_NAMES, SecretBox, generateSecret, openAdminPassword, sealAdminPassword, type AdminPasswordName } from '@berth/auth';
import { SECRET_BOX } from '../common/tokens';
import type { RegistryRecord } from '../registries/registries.repository';
import { RegistryAccess } from '../registries/registry-access.service';
import { RegistryCredentialsDto } from './credentials.dto';
import { CredentialException, CredentialExceptionCode } from './credentials.exception';
import { CredentialsRepository } from './credentials.repository';

@Injectable()
export class CredentialsService {
  constructor(
    private readonly access: RegistryAccess,
    private readonly credentials: CredentialsRepository,
    @Inject(SECRET_BOX) private readonly box: SecretBox,
  ) {}

  /**
   * ACR stores the passwords even while the admin user is disabled, but
   * `az acr credential show` refuses then; Berth answers 409 the same way.
   */
  async list(registryName: string): Promise<RegistryCredentialsDto> {
    const registry = await this.access.get(registryName);
    this.requireAdminUser(registry);
    return this.read(registry);
  }

  async regenerate(registryName: string, slot: AdminPasswordName): Promise<RegistryCredentialsDto> {
    const registry = await this.access.getWritable(registryName);
    this.requireAdminUser(registry);
    await this.credentials.replaceAdminPassword(
      registry.id,
      slot,
      sealAdminPassword(this.box, registry.id, slot, generateSecret()),
    );
    return this.read(registry);
  }

  private requireAdminUser(registry: RegistryRecord): void {
    if (!registry.adminUserEnabled) {
      throw new CredentialException(
        CredentialExceptionCode.AdminUserDisabled,
        `The admin user of registry ${registry.name} is disabled; enable it with PATCH {"adminUserEnabled": true} first.`,
      );
    }
  }

  private async read(registry: RegistryRecord): Promise<RegistryCredentialsDto> {
    const sealed = new Map((await this.credentials.listAdminPasswords(registry.id)).map((c) => [c.name, c.encryptedValue]));
    const passwords = ADMIN_PASSWORD_NAMES.filter((slot) => sealed.has(slot)).map((slot) => ({
      name: slot,
      value: openAdminPassword(this.box, registry.id, slot, sealed.get(slot)!),
    }));
    return { username: registry.name, passwords };
  }
}
