import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const DEPLOY_DIR = path.join(REPO_ROOT, 'deploy');
