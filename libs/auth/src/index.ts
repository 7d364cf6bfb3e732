export * from './admin-password';
export * from './roles';
export * from './secret-box';
export * from './secrets';
export * from './token';
