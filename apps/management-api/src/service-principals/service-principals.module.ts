import { Module } from '@nestjs/common';
import { RegistriesModule } from '../registries/registries.module';
import { OwnerAuthenticator } from './owner-authenticator';
import { ServicePrincipalsController } from './service-principals.controller';
import { ServicePrincipalsRepository } from './service-principals.repository';
import { ServicePrincipalsService } from './service-principals.service';

@Module({
  imports: [RegistriesModule],
  controllers: [ServicePrincipalsController],
  providers: [ServicePrincipalsRepository, ServicePrincipalsService, OwnerAuthenticator],
  exports: [OwnerAuthenticator],
})
export class ServicePrincipalsModule {}
