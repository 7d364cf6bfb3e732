import { Inject, Injectable } from '@nestjs/common';
import type { Db } from '@berth/db';
import { DB } from '../common/tokens';

export interface SealedAdminPassword {
  name: string;
  encryptedValue: string;
}

@Injectable()
export class CredentialsRepository {
  constructor(@Inject(DB) private readonly db: Db) {}

  listAdminPasswords(registryId: string): Promise<SealedAdminPassword[]> {
    return this.db.adminCredential.findMany({
      where: { registryId },
      select: { name: true, encryptedValue: true },
      orderBy: { name: 'asc' },
    });
  }

  async replaceAdminPassword(registryId: string, name: string, encryptedValue: string): Promise<void> {
    await this.db.adminCredential.upsert({
      where: { registryId_name: { registryId, name } },
      create: { registryId, name, encryptedValue },
      update: { encryptedValue },
    });
  }
}
