import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeysModule } from './api-keys/api-keys.module';
import { ManagementAuthGuard } from './common/auth.guard';
import { CoreDependencies, CoreModule } from './common/core.module';
import { CredentialsModule } from './credentials/credentials.module';
import { HealthModule } from './health/health.module';
import { RegistriesModule } from './registries/registries.module';
import { RepositoriesModule } from './repositories/repositories.module';
import { ServicePrincipalsModule } from './service-principals/service-principals.module';
import { SkusModule } from './skus/skus.module';
import { UsagesModule } from './usages/usages.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({})
export class AppModule {
  static register(deps: CoreDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(deps),
        ApiKeysModule,
        HealthModule,
        SkusModule,
        RegistriesModule,
        CredentialsModule,
        ServicePrincipalsModule,
        WebhooksModule,
        UsagesModule,
        RepositoriesModule,
      ],
      providers: [{ provide: APP_GUARD, useClass: ManagementAuthGuard }],
    };
  }
}
