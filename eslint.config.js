// Lint: typescript-eslint's recommended rules plus Nx module boundaries, so
// the dependency rule of DESIGN.md is enforced by the linter, not by memory.
const nx = require('@nx/eslint-plugin');
const tseslint = require('typescript-eslint');

module.exports = tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'libs/db/src/generated/**', 'tmp/**', 'bench/.work/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          enforceBuildableLibDependency: false,
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'scope:oci', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'scope:config', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'scope:auth', onlyDependOnLibsWithTags: ['scope:oci', 'scope:config'] },
            { sourceTag: 'scope:db', onlyDependOnLibsWithTags: ['scope:config', 'scope:events'] },
            { sourceTag: 'scope:events', onlyDependOnLibsWithTags: ['scope:oci', 'scope:config'] },
            { sourceTag: 'scope:storage', onlyDependOnLibsWithTags: ['scope:config'] },
            { sourceTag: 'scope:testing', onlyDependOnLibsWithTags: ['type:lib'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/generated/prisma*', '@prisma/client*'], message: 'Import Prisma through @berth/db.' }] },
      ],
    },
  },
  {
    files: ['libs/db/src/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', '**/test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
