// Lint: typescript-eslint's recommended rules plus Nx module boundaries, so
// the dependency rule of DESIGN.md is enforced by the linter, not by memory.
const nx = require('@nx/eslint-plugin');
const tseslint = require('typescript-eslint');

const moduleBoundaries = {
  allow: [],
  enforceBuildableLibDependency: false,
  depConstraints: [
    { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
    { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:app', 'type:lib'] },
    { sourceTag: 'scope:oci', onlyDependOnLibsWithTags: [] },
    { sourceTag: 'scope:config', onlyDependOnLibsWithTags: [] },
    { sourceTag: 'scope:auth', onlyDependOnLibsWithTags: ['scope:oci', 'scope:config'] },
    { sourceTag: 'scope:db', onlyDependOnLibsWithTags: ['scope:config', 'scope:events'] },
    { sourceTag: 'scope:events', onlyDependOnLibsWithTags: ['scope:oci', 'scope:config'] },
    { sourceTag: 'scope:storage', onlyDependOnLibsWithTags: ['scope:config'] },
    { sourceTag: 'scope:testing', onlyDependOnLibsWithTags: ['type:lib'] },
  ],
};

module.exports = tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'libs/db/src/generated/**', 'tmp/**', 'bench/.work/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': ['error', moduleBoundaries],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/generated/prisma*', '@prisma/client*'], message: 'Import Prisma through @berth/db.' }] },
      ],
    },
  },
  {
    // Nx refuses any import of an application project (and any relative import
    // across projects) whatever the tags say; the cross-app end-to-end tests
    // are the one place that starts the apps themselves, so only there may a
    // relative path reach into apps/*/src.
    files: ['e2e/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { ...moduleBoundaries, allow: ['^(\\.\\./)+apps/(management-api|registry|worker)/src/'] },
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
  {
    // A library's own specs may use the shared test helpers (test databases,
    // HTTP and Redis helpers); its code may not.
    files: ['libs/*/src/**/*.spec.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          ...moduleBoundaries,
          depConstraints: moduleBoundaries.depConstraints.map((constraint) =>
            constraint.sourceTag === 'scope:testing'
              ? constraint
              : { ...constraint, onlyDependOnLibsWithTags: [...constraint.onlyDependOnLibsWithTags, 'scope:testing'] },
          ),
        },
      ],
    },
  },
);
