import { ArgumentMetadata, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { CommonException } from './common.exception';
import type { FieldError } from './domain-exception';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      out.push({ field, message });
    }
    out.push(...flatten(error.children ?? [], field));
  }
  return out;
}

/**
 * class-validator with unknown properties refused, and failures turned into
 * problem details that name each offending field (dotted paths for nested ones).
 */
@Injectable()
export class BerthValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      // One message per field: "must be a string" makes the length rules moot.
      stopAtFirstError: true,
      transform: true,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => CommonException.validation(flatten(errors)),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && metadata.metatype && metadata.metatype !== Object) {
      // A missing body validates like an empty object, so required fields are named.
      if (value === undefined || value === null) value = {};
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw CommonException.field('body', 'must be a JSON object');
      }
    }
    return super.transform(value, metadata);
  }
}
