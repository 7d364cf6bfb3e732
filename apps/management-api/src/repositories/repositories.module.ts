import { Module } from '@nestjs/common';
import { RegistriesModule } from '../registries/registries.module';
import { RepositoriesController } from './repositories.controller';
import { RepositoriesRepository } from './repositories.repository';
import { RepositoriesService } from './repositories.service';

@Module({
  imports: [RegistriesModule],
  controllers: [RepositoriesController],
  providers: [RepositoriesRepository, RepositoriesService],
})
export class RepositoriesModule {}
