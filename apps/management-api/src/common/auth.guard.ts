import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { parseBasicAuth } from '@berth/auth';
import { ApiKeysService } from '../api-keys/api-keys.service';
import { OwnerAuthenticator } from '../service-principals/owner-authenticator';
import { CommonException, CommonExceptionCode } from './common.exception';
import type { HttpRequest } from './http-types';
import { IS_PUBLIC } from './public.decorator';

/**
 * Global guard: every route needs an operator API key (`Bearer`) unless
 * marked @Public(); the routes of one registry (`/registries/{registryName}`
 * and below) also accept a service principal holding Owner on that registry
 * (`Basic clientId:secret`).
 */
@Injectable()
export class ManagementAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeysService,
    private readonly owners: OwnerAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const req = context.switchToHttp().getRequest<HttpRequest>();
    const authorization = req.headers.authorization;
    if (typeof authorization !== 'string' || !/^Basic\b/i.test(authorization)) {
      await this.apiKeys.authenticate(authorization);
      return true;
    }
    const registryName = req.params?.registryName;
    if (!registryName) {
      throw new CommonException(
        CommonExceptionCode.Unauthenticated,
        'This route needs an operator API key as "Authorization: Bearer <key>"; service principal credentials count only on the routes of their own registry (/api/v1/registries/{registryName} and below).',
      );
    }
    await this.owners.authenticate(registryName, parseBasicAuth(authorization));
    return true;
  }
}
