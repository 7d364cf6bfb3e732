import { Module } from '@nestjs/common';
import { RegistriesModule } from '../registries/registries.module';
import { CredentialsController } from './credentials.controller';
import { CredentialsRepository } from './credentials.repository';
import { CredentialsService } from './credentials.service';

@Module({
  imports: [RegistriesModule],
  controllers: [CredentialsController],
  providers: [CredentialsRepository, CredentialsService],
})
export class CredentialsModule {}
