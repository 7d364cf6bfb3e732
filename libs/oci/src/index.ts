export * from './digest';
export * from './errors';
export * from './manifest';
export * from './media-types';
export * from './reference';
