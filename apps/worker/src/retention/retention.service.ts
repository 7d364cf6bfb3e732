import type { JobContext, RetentionJob } from '@berth/events';
import type { Logger } from '../logger';
import type { ManifestCandidate, RetentionRegistry, RetentionRepository, TagCandidate } from './retention.repository';

/** Why an item is in the plan: the registry's policy or a named rule. */
export type RetentionReason = { kind: 'policy'; retentionDays: number } | { kind: 'rule'; rule: string };

export interface PlannedTag {
  repository: string;
  tag: string;
  digest: string;
  reason: RetentionReason;
}

export interface PlannedManifest {
  repository: string;
  digest: string;
  mediaType: string;
  reason: RetentionReason;
}

/** What a retention run deletes (dry run: would delete). JSON-safe. */
export interface RetentionPlan {
  registryId: string;
  tags: PlannedTag[];
  manifests: PlannedManifest[];
  /** Rules skipped because a pattern is not a valid regular expression. */
  invalidRules: string[];
  /** More candidates than one run takes; the next run continues. */
  truncated: boolean;
}

export interface RetentionOutcome {
  registryId: string;
  dryRun: boolean;
  plan: RetentionPlan;
  deleted: { tags: number; manifests: number };
}

interface InternalPlan {
  plan: RetentionPlan;
  tags: TagCandidate[];
  manifests: ManifestCandidate[];
}

/**
 * Retention: the registry policy (untagged manifests older than
 * retentionDays) and RetentionRule rows (acr purge's --filter/--ago/--keep/
 * --untagged). Only for SKUs whose retentionPolicyAllowed is set. A rule
 * deletes tags only when it has keepLatest or olderThanSeconds (a bare rule
 * would otherwise delete every matching tag). Locked items are never
 * deleted. `plan` is the dry run; `apply` carries the plan out, re-checking
 * each item as it deletes it.
 */
export class RetentionService {
  constructor(
    private readonly repository: RetentionRepository,
    private readonly logger: Logger,
    private readonly settings: { maxItemsPerRun: number } = { maxItemsPerRun: 5_000 },
  ) {}

  async process(job: RetentionJob, context?: JobContext): Promise<{ registries: RetentionOutcome[] }> {
    const ids = job.registryId ? [job.registryId] : await this.repository.listRegistriesWithRetention();
    const registries: RetentionOutcome[] = [];
    for (const id of ids) {
      if (context?.shouldYield()) await context.release();
      const outcome = job.dryRun ? await this.dryRun(id) : await this.apply(id);
      if (outcome) registries.push(outcome);
    }
    return { registries };
  }

  /** What a run would delete now, deleting nothing. Undefined when the registry has no retention. */
  async dryRun(registryId: string): Promise<RetentionOutcome | undefined> {
    const registry = await this.repository.findRegistry(registryId);
    if (!registry || !registry.retentionAllowed) return undefined;
    const { plan } = await this.buildPlan(registry);
    return { registryId, dryRun: true, plan, deleted: { tags: 0, manifests: 0 } };
  }

  async apply(registryId: string): Promise<RetentionOutcome | undefined> {
    const registry = await this.repository.findRegistry(registryId);
    if (!registry || !registry.retentionAllowed) return undefined;
    const internal = await this.buildPlan(registry);
    const deleted = { tags: 0, manifests: 0 };
    for (const tag of internal.tags) {
      if (await this.repository.deleteTag(registry.id, tag)) deleted.tags++;
    }
    for (const manifest of internal.manifests) {
      if (await this.repository.deleteManifest(registry, manifest.id)) deleted.manifests++;
    }
    if (deleted.tags + deleted.manifests > 0) {
      this.logger.info({ registryId, ...deleted }, 'retention: deleted expired tags and manifests');
    }
    return { registryId, dryRun: false, plan: internal.plan, deleted };
  }

  private async buildPlan(registry: RetentionRegistry): Promise<InternalPlan> {
    const limit = this.settings.maxItemsPerRun;
    const plan: RetentionPlan = { registryId: registry.id, tags: [], manifests: [], invalidRules: [], truncated: false };
    const tags = new Map<bigint, TagCandidate>();
    const manifests = new Map<bigint, ManifestCandidate>();
    const room = () => limit - tags.size - manifests.size;

    if (registry.retentionDays !== null) {
      const reason: RetentionReason = { kind: 'policy', retentionDays: registry.retentionDays };
      for (const manifest of await this.repository.findExpiredUntaggedManifests(registry.id, registry.retentionDays, room() + 1)) {
        if (room() <= 0) {
          plan.truncated = true;
          break;
        }
        manifests.set(manifest.id, manifest);
        plan.manifests.push({ repository: manifest.repository, digest: manifest.digest, mediaType: manifest.mediaType, reason });
      }
    }

    for (const rule of await this.repository.listRules(registry.id)) {
      if (room() <= 0) {
        plan.truncated = true;
        break;
      }
      const reason: RetentionReason = { kind: 'rule', rule: rule.name };
      try {
        if (rule.keepLatest !== null || rule.olderThanSeconds !== null) {
          for (const tag of await this.repository.findRuleTags(registry.id, rule, room() + 1)) {
            if (room() <= 0) {
              plan.truncated = true;
              break;
            }
            if (tags.has(tag.id)) continue;
            tags.set(tag.id, tag);
            plan.tags.push({ repository: tag.repository, tag: tag.tag, digest: tag.digest, reason });
          }
        }
        if (rule.deleteUntagged) {
          const planned = [...tags.keys()];
          for (const manifest of await this.repository.findRuleUntaggedManifests(registry.id, rule, planned, room() + 1)) {
            if (manifests.has(manifest.id)) continue;
            if (room() <= 0) {
              plan.truncated = true;
              break;
            }
            manifests.set(manifest.id, manifest);
            plan.manifests.push({ repository: manifest.repository, digest: manifest.digest, mediaType: manifest.mediaType, reason });
          }
        }
      } catch (error) {
        // Postgres rejects an invalid regular expression (SQLSTATE 2201B); the other rules still run.
        if (!isInvalidRegex(error)) throw error;
        plan.invalidRules.push(rule.name);
        this.logger.warn({ registryId: registry.id, rule: rule.name }, 'retention: rule has an invalid pattern, skipped');
      }
    }
    return { plan, tags: [...tags.values()], manifests: [...manifests.values()] };
  }
}

function isInvalidRegex(error: unknown): boolean {
  const text = `${(error as { code?: string }).code ?? ''} ${(error as Error).message ?? ''} ${JSON.stringify((error as { meta?: unknown }).meta ?? '')}`;
  return /2201B|invalid regular expression/i.test(text);
}
