import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { CommonException } from './common.exception';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** ARM-style paging: `top` items per page, an opaque `skipToken` from the previous page's `nextLink`. */
export class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  top?: number;

  @ApiPropertyOptional({ description: 'Opaque token taken from the previous page\'s nextLink.' })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  skipToken?: string;
}

export interface Page<T> {
  value: T[];
  /** Relative URL of the next page (same path, `top` and `skipToken`); null on the last page. */
  nextLink: string | null;
}

export function encodeSkipToken(position: Record<string, string>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/** Decodes a token made by encodeSkipToken; a token that is not one is a 400 naming `skipToken`. */
export function decodeSkipToken<K extends string>(token: string | undefined, keys: readonly K[]): Record<K, string> | undefined {
  if (token === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && keys.every((k) => typeof (parsed as Record<string, unknown>)[k] === 'string')) {
      return parsed as Record<K, string>;
    }
  } catch {
    // fall through to the validation error
  }
  throw CommonException.field('skipToken', 'is not a token from a nextLink');
}

/**
 * Builds a page from `top + 1` fetched rows: the extra row only tells that
 * another page exists.
 */
export function toPage<Row, T>(
  rows: Row[],
  top: number,
  path: string,
  map: (row: Row) => T,
  positionOf: (row: Row) => Record<string, string>,
): Page<T> {
  const pageRows = rows.slice(0, top);
  const hasMore = rows.length > top;
  const last = pageRows[pageRows.length - 1];
  const nextLink =
    hasMore && last !== undefined
      ? `${path}?top=${top}&skipToken=${encodeURIComponent(encodeSkipToken(positionOf(last)))}`
      : null;
  return { value: pageRows.map(map), nextLink };
}
