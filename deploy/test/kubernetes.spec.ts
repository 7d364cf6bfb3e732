// deploy/k8s: every overlay renders with `kubectl kustomize`, every object
// validates against the Kubernetes schemas (kubernetes-models) with no unknown
// field, every container is hardened, sized and probed, every reference points
// at a rendered object, and the apps get a configuration libs/config accepts.
import { isIP } from 'node:net';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '@berth/config';
import { configVariables } from './support/config-variables';
import {
  containerEnvironment,
  find,
  findGenerated,
  K8S_DIR,
  kubectlVersion,
  render,
  selects,
  unknownFields,
  validateSchema,
  workloads,
  type Json,
  type K8sObject,
} from './support/kubernetes';

const defaults = loadConfig({});
/** Berth's Deployments: container port and the paths of their probes. */
const APPS: Record<string, { port: number; liveness: string; readiness: string }> = {
  'berth-management-api': { port: defaults.managementPort, liveness: '/healthz', readiness: '/readyz' },
  // The data plane has /healthz and /metrics only.
  'berth-registry': { port: defaults.registryPort, liveness: '/healthz', readiness: '/healthz' },
  // The worker's metrics server (fixed port): /metrics, /healthz, /readyz.
  'berth-worker': { port: 9464, liveness: '/healthz', readiness: '/readyz' },
};
const OVERLAYS = ['base', 'overlays/dev', 'overlays/azure'];
const version = kubectlVersion();

type Container = Json;

function containersOf(objects: K8sObject[]): Array<{ owner: string; pod: K8sObject['spec']; container: Container }> {
  return workloads(objects).flatMap(({ obj, pod }) =>
    [...(pod.initContainers ?? []), ...pod.containers].map((container: Container) => ({ owner: `${obj.kind}/${obj.metadata.name}`, pod, container })),
  );
}

function appContainer(objects: K8sObject[], deployment: string): Container {
  const obj = find(objects, 'Deployment', deployment);
  if (!obj) throw new Error(`Deployment ${deployment} is not rendered`);
  return obj.spec.template.spec.containers[0];
}

/** The container port a probe or Service port refers to (by name or number), if the container declares it. */
function probePort(container: Container, port: number | string): number | undefined {
  const declared = container.ports?.find((p: { name?: string; containerPort: number }) => (typeof port === 'number' ? p.containerPort === port : p.name === port));
  return declared?.containerPort;
}

if (!version) {
  describe('deploy/k8s', () => {
    it.skip('needs kubectl (Debian package kubernetes-client) to render the Kustomize overlays: kubectl is not installed', () => {});
  });
} else {
  describe.each(OVERLAYS)('deploy/k8s/%s', (overlay) => {
    let objects: K8sObject[];

    beforeAll(() => {
      objects = render(path.join(K8S_DIR, overlay));
    });

    it('renders only known kinds, each valid against its Kubernetes schema and with no unknown field', () => {
      expect(objects.length).toBeGreaterThan(5);
      for (const obj of objects) {
        expect(() => validateSchema(obj)).not.toThrow();
        expect(unknownFields(obj)).toEqual([]);
      }
      const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(names).size).toBe(names.length);
    });

    it('renders the three apps, their Services, the migration Job and the Ingress', () => {
      for (const name of Object.keys(APPS)) expect(find(objects, 'Deployment', name)).toBeDefined();
      for (const name of ['berth-management-api', 'berth-registry', 'berth-worker-metrics']) expect(find(objects, 'Service', name)).toBeDefined();
      expect(find(objects, 'Job', 'berth-migrate')).toBeDefined();
      expect(find(objects, 'Ingress', 'berth')).toBeDefined();
      expect(findGenerated(objects, 'ConfigMap', 'berth-config')).toBeDefined();
      expect(find(objects, 'Secret', 'berth-secrets')).toBeDefined();
    });

    it('runs every container non-root, without privilege escalation or capabilities, with RuntimeDefault seccomp and a read-only root', () => {
      for (const { owner, pod, container } of containersOf(objects)) {
        const sc = container.securityContext ?? {};
        const podSc = pod.securityContext ?? {};
        const where = `${owner}/${container.name}`;
        expect({ where, runAsNonRoot: sc.runAsNonRoot ?? podSc.runAsNonRoot }).toEqual({ where, runAsNonRoot: true });
        expect({ where, uid: (sc.runAsUser ?? podSc.runAsUser) > 0 }).toEqual({ where, uid: true });
        expect({ where, allowPrivilegeEscalation: sc.allowPrivilegeEscalation }).toEqual({ where, allowPrivilegeEscalation: false });
        expect({ where, drop: sc.capabilities?.drop }).toEqual({ where, drop: ['ALL'] });
        expect({ where, add: sc.capabilities?.add }).toEqual({ where, add: undefined });
        expect({ where, seccomp: (sc.seccompProfile ?? podSc.seccompProfile)?.type }).toEqual({ where, seccomp: 'RuntimeDefault' });
        expect({ where, readOnlyRootFilesystem: sc.readOnlyRootFilesystem }).toEqual({ where, readOnlyRootFilesystem: true });
        expect({ where, privileged: sc.privileged ?? false }).toEqual({ where, privileged: false });
      }
      for (const { obj, pod } of workloads(objects)) {
        expect({ pod: obj.metadata.name, hostNetwork: pod.hostNetwork ?? false, token: pod.automountServiceAccountToken }).toEqual({
          pod: obj.metadata.name,
          hostNetwork: false,
          token: false,
        });
      }
    });

    it('gives every container CPU and memory requests and limits', () => {
      for (const { owner, container } of containersOf(objects)) {
        const { requests = {}, limits = {} } = container.resources ?? {};
        const where = `${owner}/${container.name}`;
        expect({ where, requests: Object.keys(requests).sort(), limits: Object.keys(limits).sort() }).toEqual({
          where,
          requests: ['cpu', 'memory'],
          limits: ['cpu', 'memory'],
        });
      }
    });

    it('probes every long-running container, the apps on their health endpoints', () => {
      for (const { obj, pod } of workloads(objects)) {
        if (obj.kind === 'Job') continue;
        for (const container of pod.containers) {
          const where = `${obj.metadata.name}/${container.name}`;
          expect({ where, liveness: Boolean(container.livenessProbe), readiness: Boolean(container.readinessProbe) }).toEqual({
            where,
            liveness: true,
            readiness: true,
          });
        }
      }
      for (const [name, app] of Object.entries(APPS)) {
        const container = appContainer(objects, name);
        expect(container.ports.map((p: { containerPort: number }) => p.containerPort)).toEqual([app.port]);
        const probes = [
          [container.livenessProbe, app.liveness],
          [container.readinessProbe, app.readiness],
          ...(container.startupProbe ? [[container.startupProbe, app.liveness]] : []),
        ];
        for (const [probe, expectedPath] of probes) {
          expect({ name, path: probe.httpGet?.path, port: probePort(container, probe.httpGet?.port) }).toEqual({ name, path: expectedPath, port: app.port });
        }
      }
    });

    it('mounts a writable /tmp into every app, since their root filesystem is read-only', () => {
      for (const { obj, pod } of workloads(objects).filter(({ obj }) => obj.metadata.name.startsWith('berth-'))) {
        const mount = pod.containers[0].volumeMounts?.find((m: { mountPath: string }) => m.mountPath === '/tmp');
        const volume = pod.volumes?.find((v: { name: string }) => v.name === mount?.name);
        expect({ name: obj.metadata.name, emptyDir: Boolean(volume?.emptyDir) }).toEqual({ name: obj.metadata.name, emptyDir: true });
      }
    });

    it('refers only to objects it renders', () => {
      for (const { owner, pod, container } of containersOf(objects)) {
        expect(() => containerEnvironment(objects, container)).not.toThrow();
        for (const mount of container.volumeMounts ?? []) {
          const declared = [...(pod.volumes ?? []).map((v: { name: string }) => v.name)];
          const owning = objects.find((o) => `${o.kind}/${o.metadata.name}` === owner);
          for (const claim of owning?.spec.volumeClaimTemplates ?? []) declared.push(claim.metadata.name);
          expect({ owner, mount: mount.name, declared: declared.includes(mount.name) }).toEqual({ owner, mount: mount.name, declared: true });
        }
        if (pod.serviceAccountName) expect(find(objects, 'ServiceAccount', pod.serviceAccountName)).toBeDefined();
      }
      const podTemplates = workloads(objects).map(({ obj, pod }) => ({ labels: obj.spec.template.metadata?.labels, containers: pod.containers as Container[] }));
      for (const service of objects.filter((o) => o.kind === 'Service')) {
        const backends = podTemplates.filter((t) => selects(service.spec.selector, t.labels));
        expect({ service: service.metadata.name, selectsPods: backends.length > 0 }).toEqual({ service: service.metadata.name, selectsPods: true });
        for (const port of service.spec.ports) {
          const served = backends.some((b) => b.containers.some((c) => probePort(c, port.targetPort ?? port.port) !== undefined));
          expect({ service: service.metadata.name, port: port.name, served }).toEqual({ service: service.metadata.name, port: port.name, served: true });
        }
      }
      for (const rule of find(objects, 'Ingress', 'berth')!.spec.rules) {
        for (const { backend } of rule.http.paths) {
          const service = find(objects, 'Service', backend.service.name);
          expect(service).toBeDefined();
          expect(service!.spec.ports.map((p: { name: string }) => p.name)).toContain(backend.service.port.name);
        }
      }
      for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
        expect(find(objects, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name)).toBeDefined();
      }
      for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
        expect(podTemplates.some((t) => selects(pdb.spec.selector.matchLabels, t.labels))).toBe(true);
      }
    });

    it('configures the apps only with variables libs/config knows', () => {
      const known = configVariables();
      const configMap = findGenerated(objects, 'ConfigMap', 'berth-config')!;
      const secret = find(objects, 'Secret', 'berth-secrets')!;
      const keys = [...Object.keys(configMap.data), ...Object.keys(secret.stringData ?? {}), ...Object.keys(secret.data ?? {})];
      expect(keys.filter((k) => !known.has(k))).toEqual([]);
      for (const { owner, container } of containersOf(objects).filter(({ owner }) => owner.includes('/berth-'))) {
        const unknown = Object.keys(containerEnvironment(objects, container)).filter((k) => !known.has(k));
        expect({ owner, unknown }).toEqual({ owner, unknown: [] });
      }
    });

    it('serves *.<BERTH_DOMAIN> and the management host through the Ingress, with no body size limit or request buffering', () => {
      const domain = findGenerated(objects, 'ConfigMap', 'berth-config')!.data.BERTH_DOMAIN;
      const ingress = find(objects, 'Ingress', 'berth')!;
      const hosts = Object.fromEntries(ingress.spec.rules.map((r: { host: string; http: { paths: Array<{ backend: { service: { name: string } } }> } }) => [r.host, r.http.paths[0].backend.service.name]));
      expect(hosts).toEqual({ [`*.${domain}`]: 'berth-registry', [`management.${domain}`]: 'berth-management-api' });
      expect(ingress.metadata.annotations).toMatchObject({
        'nginx.ingress.kubernetes.io/proxy-body-size': '0',
        'nginx.ingress.kubernetes.io/proxy-request-buffering': 'off',
      });
      for (const tls of ingress.spec.tls ?? []) expect(tls.hosts.sort()).toEqual(Object.keys(hosts).sort());
    });

    it('runs the migration Job once with only the database URL', () => {
      const job = find(objects, 'Job', 'berth-migrate')!;
      const container = job.spec.template.spec.containers[0];
      expect(container.image).toMatch(/(^|\/)(berth-)?migrate(:|$)/);
      expect(Object.keys(containerEnvironment(objects, container))).toEqual(['DATABASE_URL']);
      expect(job.spec.template.spec.restartPolicy).toBe('OnFailure');
    });
  });

  describe('deploy/k8s/base', () => {
    let objects: K8sObject[];
    beforeAll(() => {
      objects = render(path.join(K8S_DIR, 'base'));
    });

    it('scales the data plane with an autoscaler (at least 2 replicas) and protects it with a disruption budget', () => {
      const registry = find(objects, 'Deployment', 'berth-registry')!;
      // The autoscaler owns the replica count; a fixed one would be reset on every apply.
      expect(registry.spec.replicas).toBeUndefined();
      const hpa = find(objects, 'HorizontalPodAutoscaler', 'berth-registry')!;
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'berth-registry' });
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
      const pdb = find(objects, 'PodDisruptionBudget', 'berth-registry')!;
      expect(selects(pdb.spec.selector.matchLabels, registry.spec.template.metadata.labels)).toBe(true);
      expect(find(objects, 'Deployment', 'berth-worker')!.spec.replicas).toBe(2);
    });

    it('trusts X-Forwarded-* only from private address ranges (the ingress controller)', () => {
      const proxies = findGenerated(objects, 'ConfigMap', 'berth-config')!.data.BERTH_TRUSTED_PROXIES.split(',');
      expect(proxies.length).toBeGreaterThan(0);
      for (const entry of proxies) {
        const [address, bits] = entry.split('/');
        expect({ entry, ip: isIP(address), prefix: Number(bits) >= 8 && Number(bits) <= 32 }).toEqual({ entry, ip: 4, prefix: true });
        expect({ entry, private: /^(10\.|172\.(1[6-9]|2\d|3[01])\.|192\.168\.)/.test(address) }).toEqual({ entry, private: true });
      }
    });

    it('ships only placeholders as secrets, which the apps refuse', () => {
      const secret = find(objects, 'Secret', 'berth-secrets')!;
      expect(secret.data).toBeUndefined();
      for (const [name, value] of Object.entries(secret.stringData as Record<string, string>)) {
        expect({ name, placeholder: value.includes('REPLACE_ME') }).toEqual({ name, placeholder: true });
      }
      const env = containerEnvironment(objects, appContainer(objects, 'berth-registry'));
      expect(() => loadConfig(env)).toThrow(ConfigError);
    });
  });

  describe('deploy/k8s/overlays/dev', () => {
    let objects: K8sObject[];
    beforeAll(() => {
      objects = render(path.join(K8S_DIR, 'overlays/dev'));
    });

    it('runs PostgreSQL, Redis and Azurite in the cluster, one replica of everything', () => {
      expect(find(objects, 'StatefulSet', 'postgres')!.spec.template.spec.containers[0].image).toBe('postgres:16');
      expect(find(objects, 'Deployment', 'redis')!.spec.template.spec.containers[0].image).toBe('redis:7');
      expect(find(objects, 'Deployment', 'azurite')!.spec.template.spec.containers[0].image).toBe('mcr.microsoft.com/azure-storage/azurite');
      for (const obj of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
        expect({ name: obj.metadata.name, replicas: obj.spec.replicas }).toEqual({ name: obj.metadata.name, replicas: 1 });
      }
      expect(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' || o.kind === 'PodDisruptionBudget')).toEqual([]);
      expect(new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace))).toEqual(new Set(['berth-dev']));
    });

    it('gives the apps a working configuration pointing at the in-cluster services', () => {
      for (const name of Object.keys(APPS)) {
        const container = appContainer(objects, name);
        expect(container.image).toBe(`${name}:local`);
        const config = loadConfig(containerEnvironment(objects, container));
        const databaseHost = new URL(config.databaseUrl!).hostname;
        const redisHost = new URL(config.redisUrl).hostname;
        expect(find(objects, 'Service', databaseHost)).toBeDefined();
        expect(find(objects, 'Service', redisHost)).toBeDefined();
        expect(config.storage.driver).toBe('azure');
        const blobHost = /BlobEndpoint=http:\/\/([^:/]+)/.exec(config.storage.driver === 'azure' ? (config.storage.connectionString ?? '') : '')?.[1];
        expect(find(objects, 'Service', blobHost ?? '')).toBeDefined();
      }
    });
  });

  describe('deploy/k8s/overlays/azure', () => {
    let objects: K8sObject[];
    beforeAll(() => {
      objects = render(path.join(K8S_DIR, 'overlays/azure'));
    });

    it('uses Azure Blob Storage through workload identity, with no storage key', () => {
      const serviceAccount = find(objects, 'ServiceAccount', 'berth')!;
      expect(serviceAccount.metadata.annotations['azure.workload.identity/client-id']).toMatch(/REPLACE_ME/);
      for (const name of Object.keys(APPS)) {
        const deployment = find(objects, 'Deployment', name)!;
        expect(deployment.spec.template.metadata.labels['azure.workload.identity/use']).toBe('true');
        expect(deployment.spec.template.spec.serviceAccountName).toBe('berth');
        const env = containerEnvironment(objects, appContainer(objects, name));
        expect(env.STORAGE_DRIVER).toBe('azure');
        expect(env.AZURE_STORAGE_ACCOUNT_URL).toMatch(/^https:\/\/[^/]+\.blob\.core\.windows\.net$/);
        expect(env.AZURE_STORAGE_CONNECTION_STRING).toBeUndefined();
      }
      expect(objects.some((o) => ['postgres', 'redis', 'azurite'].includes(o.metadata.name))).toBe(false);
    });

    it('reaches external PostgreSQL and Redis over TLS through the Secret, and starts once the placeholders are replaced', () => {
      const secret = find(objects, 'Secret', 'berth-secrets')!.stringData as Record<string, string>;
      expect(secret.DATABASE_URL).toMatch(/^postgresql:\/\/.*\.postgres\.database\.azure\.com:5432\/berth\?sslmode=require$/);
      expect(secret.REDIS_URL).toMatch(/^rediss:\/\/.*\.redis\.cache\.windows\.net:6380$/);
      const env = containerEnvironment(objects, appContainer(objects, 'berth-registry'));
      expect(() => loadConfig(env)).toThrow(ConfigError);
      const filledIn = { ...env, BERTH_SECRET_KEY: 'k8s-test-secret-0123456789abcdefghijkl', BERTH_API_KEY: 'k8s-test-api-key-0123456789' };
      const config = loadConfig(filledIn);
      expect(config.storage).toMatchObject({ driver: 'azure', container: 'berth' });
      expect(config.nodeEnv).toBe('production');
    });

    it('pulls the images from a registry, not local tags', () => {
      for (const { container } of containersOf(objects)) expect(container.image).toMatch(/^[^/]+\.azurecr\.io\/berth\/[a-z-]+:\d+\.\d+\.\d+$/);
    });
  });
}
