import { Module } from '@nestjs/common';
import { SkusModule } from '../skus/skus.module';
import { RegistriesController } from './registries.controller';
import { RegistriesRepository } from './registries.repository';
import { RegistriesService } from './registries.service';
import { RegistryAccess } from './registry-access.service';

@Module({
  imports: [SkusModule],
  controllers: [RegistriesController],
  providers: [RegistriesRepository, RegistriesService, RegistryAccess],
  exports: [RegistryAccess, RegistriesRepository],
})
export class RegistriesModule {}
