import { Module } from '@nestjs/common';
import { RegistriesModule } from '../registries/registries.module';
import { UsagesController } from './usages.controller';
import { UsagesService } from './usages.service';

@Module({
  imports: [RegistriesModule],
  controllers: [UsagesController],
  providers: [UsagesService],
})
export class UsagesModule {}
