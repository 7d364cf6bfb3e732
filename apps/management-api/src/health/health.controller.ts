import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../common/api-docs';
import type { HttpMetrics } from '../common/metrics';
import { Public } from '../common/public.decorator';
import { METRICS } from '../common/tokens';
import { HealthService, ReadinessDto } from './health.service';

@ApiTags('Health')
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthService,
    @Inject(METRICS) private readonly metrics: HttpMetrics,
  ) {}

  @Get('healthz')
  @ApiOperation({ summary: 'Liveness: the process serves HTTP' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  @ApiOperation({ summary: 'Readiness: PostgreSQL and Redis answer' })
  @ApiOkResponse({ schema: { example: { status: 'ok', checks: { postgres: 'ok', redis: 'ok' } } } })
  @ApiProblems(503)
  readyz(): Promise<ReadinessDto> {
    return this.health.readiness();
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics' })
  @ApiProduces('text/plain')
  metricsText(): Promise<string> {
    return this.metrics.render();
  }
}
