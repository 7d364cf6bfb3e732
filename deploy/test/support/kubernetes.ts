// Rendering Kustomize overlays with kubectl and validating the objects against
// the Kubernetes OpenAPI schemas shipped in the kubernetes-models package.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { DEPLOY_DIR, REPO_ROOT } from './paths';

export const K8S_DIR = path.join(DEPLOY_DIR, 'k8s');

/** A parsed manifest object or part of one (free-form JSON). */
export type Json = Record<string, any>;
export type K8sObject = Json & { apiVersion: string; kind: string; metadata: Json & { name: string } };

interface Validatable {
  validate(): void;
}

/** The kinds the manifests may use; anything else is a mistake. */
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/** kubectl's version line, or undefined when kubectl is not installed. */
export function kubectlVersion(): string | undefined {
  const result = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return result.stdout.trim().replace(/\s+/g, ' ');
}

/** `kubectl kustomize <dir>`, parsed; throws with kubectl's message when rendering fails. */
export function render(dir: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(
      `kubectl kustomize ${path.relative(REPO_ROOT, dir)} failed (the manifests need kustomize v5, i.e. kubectl 1.27+):\n${result.stderr}`,
    );
  }
  // kustomize reports deprecated syntax on stderr; the manifests must not use any.
  if (result.stderr.trim() !== '') throw new Error(`kubectl kustomize ${path.relative(REPO_ROOT, dir)} warned:\n${result.stderr}`);
  const docs = parseAllDocuments(result.stdout);
  for (const doc of docs) if (doc.errors.length > 0) throw doc.errors[0];
  return docs.map((doc) => doc.toJS()).filter((obj): obj is K8sObject => obj !== null);
}

export function key(obj: { apiVersion: string; kind: string }): string {
  return `${obj.apiVersion}/${obj.kind}`;
}

/** Schema validation through the kubernetes-models class of the object's kind. */
export function validateSchema(obj: K8sObject): void {
  const Model = MODELS[key(obj)];
  if (!Model) throw new Error(`${obj.kind} ${obj.metadata?.name}: ${key(obj)} is not a kind these manifests may use`);
  new Model(obj as never).validate();
}

// ─── unknown fields ───
// The schemas allow additional properties, so a misspelt field (livenessProbe
// as livnessProbe) would pass validate() and be dropped by the API server. The
// package's type declarations list every field of every type; walking the
// object along them finds names that are not fields.

interface Declaration {
  file: string;
  /** Members of the file's exported interface; undefined for aliases (Quantity, IntOrString…). */
  members: ts.NodeArray<ts.TypeElement> | undefined;
  /** Imported type names → their declaration files. */
  imports: Map<string, string>;
}

const declarations = new Map<string, Declaration>();
const MODELS_DIR = path.dirname(require.resolve('kubernetes-models/package.json'));

function resolveDeclaration(fromFile: string, specifier: string): string | undefined {
  const candidates = specifier.startsWith('.')
    ? [path.resolve(path.dirname(fromFile), `${specifier}.d.ts`)]
    : [path.join(MODELS_DIR, 'node_modules', `${specifier}.d.ts`), path.join(REPO_ROOT, 'node_modules', `${specifier}.d.ts`)];
  return candidates.find((c) => existsSync(c));
}

function declarationOf(file: string): Declaration {
  const cached = declarations.get(file);
  if (cached) return cached;
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const imports = new Map<string, string>();
  let members: ts.NodeArray<ts.TypeElement> | undefined;
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && ts.isStringLiteral(statement.moduleSpecifier)) {
      const target = resolveDeclaration(file, statement.moduleSpecifier.text);
      const bindings = statement.importClause?.namedBindings;
      if (target && bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements) imports.set(element.name.text, target);
      }
    } else if (ts.isInterfaceDeclaration(statement) && !members) {
      members = statement.members;
    }
  }
  const declaration = { file, members, imports };
  declarations.set(file, declaration);
  return declaration;
}

function memberName(member: ts.TypeElement): string | undefined {
  const name = member.name;
  return name && (ts.isIdentifier(name) || ts.isStringLiteral(name)) ? name.text : undefined;
}

/** Checks an object against a list of members (an interface body or an inline object type). */
function checkMembers(value: unknown, members: ts.NodeArray<ts.TypeElement>, decl: Declaration, where: string, problems: string[]): void {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return;
  const index = members.find(ts.isIndexSignatureDeclaration);
  for (const [name, child] of Object.entries(value)) {
    const member = members.find((m) => ts.isPropertySignature(m) && memberName(m) === name) as ts.PropertySignature | undefined;
    if (member?.type) checkType(child, member.type, decl, `${where}.${name}`, problems);
    else if (index) checkType(child, index.type, decl, `${where}.${name}`, problems);
    else problems.push(`${where}.${name} is not a field of ${path.basename(decl.file, '.d.ts')}`);
  }
}

function checkType(value: unknown, type: ts.TypeNode, decl: Declaration, where: string, problems: string[]): void {
  if (ts.isParenthesizedTypeNode(type)) return checkType(value, type.type, decl, where, problems);
  if (ts.isTypeLiteralNode(type)) return checkMembers(value, type.members, decl, where, problems);
  const element = ts.isArrayTypeNode(type)
    ? type.elementType
    : ts.isTypeReferenceNode(type) && ts.isIdentifier(type.typeName) && type.typeName.text === 'Array'
      ? type.typeArguments?.[0]
      : undefined;
  if (element) {
    if (Array.isArray(value)) value.forEach((item, i) => checkType(item, element, decl, `${where}[${i}]`, problems));
    return;
  }
  if (ts.isTypeReferenceNode(type) && ts.isIdentifier(type.typeName)) {
    const target = decl.imports.get(type.typeName.text);
    if (target) checkFields(value, target, where, problems);
  }
  // Anything else (strings, numbers, unions, aliases) is left to the schema validation.
}

function checkFields(value: unknown, file: string, where: string, problems: string[]): void {
  const decl = declarationOf(file);
  if (decl.members) checkMembers(value, decl.members, decl, where, problems);
}

/** Paths of fields the object's schema does not define. */
export function unknownFields(obj: K8sObject): string[] {
  const declaration = path.join(MODELS_DIR, obj.apiVersion, `${obj.kind}.d.ts`);
  if (!existsSync(declaration)) return [`no type declaration for ${key(obj)}`];
  const problems: string[] = [];
  checkFields(obj, declaration, `${obj.kind}/${obj.metadata.name}`, problems);
  return problems;
}

// ─── helpers over rendered objects ───

/** Deployments, StatefulSets and Jobs with their pod spec. */
export function workloads(objects: K8sObject[]): Array<{ obj: K8sObject; pod: K8sObject['spec'] }> {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))
    .map((obj) => ({ obj, pod: obj.spec.template.spec }));
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

/** The one object of a kind whose name starts with a prefix (generated ConfigMaps get a hash suffix). */
export function findGenerated(objects: K8sObject[], kind: string, prefix: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && (o.metadata.name === prefix || o.metadata.name.startsWith(`${prefix}-`)));
}

export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The environment a container sees: envFrom ConfigMaps and Secrets, then env (values or secret references). */
export function containerEnvironment(objects: K8sObject[], container: Json): Record<string, string> {
  const env: Record<string, string> = {};
  const dataOf = (kind: string, name: string): Record<string, string> => {
    const obj = find(objects, kind, name);
    if (!obj) throw new Error(`${container.name} refers to ${kind} ${name}, which is not rendered`);
    if (kind === 'Secret') {
      const decoded = Object.fromEntries(Object.entries(obj.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString()]));
      return { ...decoded, ...obj.stringData };
    }
    return obj.data ?? {};
  };
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, dataOf('ConfigMap', source.configMapRef.name));
    if (source.secretRef) Object.assign(env, dataOf('Secret', source.secretRef.name));
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef ?? variable.valueFrom?.configMapKeyRef;
    if (ref) {
      const data = dataOf(variable.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
      if (!(ref.key in data)) throw new Error(`${container.name}: ${variable.name} refers to missing key ${ref.key} of ${ref.name}`);
      env[variable.name] = data[ref.key];
    } else {
      env[variable.name] = variable.value ?? '';
    }
  }
  return env;
}
