import { Module } from '@nestjs/common';
import { SkusController } from './skus.controller';
import { SkusRepository } from './skus.repository';
import { SkusService } from './skus.service';

@Module({
  controllers: [SkusController],
  providers: [SkusRepository, SkusService],
  exports: [SkusRepository],
})
export class SkusModule {}
