// The Helm chart (deploy/helm/events-proxy), checked offline: helm lint --strict and helm template
// with the defaults and with every ci/*.yaml values file, each manifest validated against the
// Kubernetes schemas (kubernetes-models), and the chart's contract with the services asserted.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { ENV_NAMES as EDGE_ENV_NAMES } from '@events-proxy/edge';
import { ENV_NAMES as INGEST_ENV_NAMES } from '@events-proxy/ingest';
import { ALLOWED_DASHBOARD_METRIC_NAMES, DASHBOARD_PATH, promqlMetricNames } from './dashboard-metrics.js';
import {
  CHART_DIR,
  NAMESPACE,
  RELEASE,
  ROOT,
  get,
  helm,
  lint,
  render,
  values,
  valuesCases,
  type Manifest,
} from './helm.js';

type Role = 'edge' | 'ingest';
const ROLES: readonly Role[] = ['edge', 'ingest'];
const FULLNAME = `${RELEASE}-events-proxy`;

/** The variables each role reads, from the services' own config modules. */
async function envNames(role: Role): Promise<readonly string[]> {
  const names: readonly string[] = role === 'edge' ? EDGE_ENV_NAMES : INGEST_ENV_NAMES;
  expect(names, `@events-proxy/${role} must export ENV_NAMES`).to.be.an('array');
  expect(names.length, `services/${role}: ENV_NAMES is not empty`).to.be.greaterThan(0);
  return names;
}

/** The edge's access-control and per-client-limit variables (DESIGN.md §3c), all set by the chart. */
const ACCESS_ENV: readonly string[] = [
  'AUTH_MODE',
  'AUTH_JWT_SECRET',
  'AUTH_JWT_PUBLIC_KEYS_FILE',
  'AUTH_JWT_KEYS_RELOAD_SECONDS',
  'AUTH_JWT_ISSUER',
  'AUTH_JWT_AUDIENCE',
  'AUTH_COOKIE_NAME',
  'AUTH_CLOCK_SKEW_SECONDS',
  'TRUST_PROXY',
  'MAX_STREAMS_PER_IP',
  'MAX_STREAMS_PER_SUBJECT',
  'CONNECT_RATE_PER_IP',
  'CONNECT_BURST_PER_IP',
  'CLIENT_LEASE_SECONDS',
];

/** The edge's elastic-tier variables (DESIGN.md §3e), always set by the chart. */
const ELASTIC_ENV: readonly string[] = [
  'REBALANCE_TOLERANCE',
  'REBALANCE_RATE_PER_SECOND',
  'MAX_STREAM_SECONDS',
];

/** The variables the chart is expected to set for a role (before the conditional ones are applied). */
async function chartEnvNames(role: Role): Promise<readonly string[]> {
  return envNames(role);
}

const JWKS_DIR = '/etc/events-proxy/jwt-public-keys';
const JWKS_VOLUME = 'jwt-public-keys';

/**
 * Variables the chart sets only when they are configured (their service default is computed, or
 * they are alternatives to one another). Every other variable is always set.
 */
const onRedisCluster = (v: Record<string, unknown>) =>
  Boolean(
    get(v, 'existingSecret.name')
      ? get(v, 'existingSecret.keys.redisClusterNodes')
      : (get(v, 'redis.clusterNodes') as unknown[] | string | undefined)?.length,
  );

const onRedisSentinel = (v: Record<string, unknown>) =>
  Boolean(
    get(v, 'existingSecret.name')
      ? get(v, 'existingSecret.keys.redisSentinels')
      : (get(v, 'redis.sentinels') as unknown[] | string | undefined)?.length,
  );

const CONDITIONAL_ENV: Record<string, (v: Record<string, unknown>) => boolean> = {
  REDIS_URL: (v) => !onRedisCluster(v) && !onRedisSentinel(v),
  REDIS_CLUSTER_NODES: onRedisCluster,
  REDIS_SENTINELS: onRedisSentinel,
  REDIS_SENTINEL_MASTER: onRedisSentinel,
  REDIS_SENTINEL_PASSWORD: (v) =>
    onRedisSentinel(v) &&
    Boolean(
      get(v, 'existingSecret.name')
        ? get(v, 'existingSecret.keys.redisSentinelPassword')
        : get(v, 'redis.sentinelPassword'),
    ),
  AMQP_QUEUE: (v) => Boolean(get(v, 'ingest.config.queue')),
  PULSE_USERNAME: (v) => Boolean(get(v, 'amqp.pulse.username')),
  PULSE_HOSTNAME: (v) => Boolean(get(v, 'amqp.pulse.hostname')),
  PULSE_VHOST: (v) => Boolean(get(v, 'amqp.pulse.vhost')),
  AMQP_URL: (v) =>
    Boolean(get(v, 'existingSecret.name') ? get(v, 'existingSecret.keys.amqpUrl') : get(v, 'amqp.url')),
  PULSE_PASSWORD: (v) =>
    Boolean(
      get(v, 'existingSecret.name')
        ? get(v, 'existingSecret.keys.pulsePassword')
        : get(v, 'amqp.pulse.password'),
    ),
  // The key sources count only with auth.mode=jwt; issuer and audience are set when non-empty.
  AUTH_JWT_SECRET: (v) =>
    authJwt(v) && Boolean(get(v, 'auth.existingSecret.name') || get(v, 'auth.jwtSecret')),
  AUTH_JWT_PUBLIC_KEYS_FILE: (v) => authJwt(v) && Boolean(get(v, 'auth.publicKeys.existingSecret')),
  AUTH_JWT_ISSUER: (v) => Boolean(get(v, 'auth.jwtIssuer')),
  AUTH_JWT_AUDIENCE: (v) => Boolean(get(v, 'auth.jwtAudience')),
};

function authJwt(v: Record<string, unknown>): boolean {
  return get(v, 'auth.mode') === 'jwt';
}

interface Validatable {
  validate(): void;
}

const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/Ingress': Ingress,
};

// Custom resources: no model to validate against; their shape is checked below.
const CUSTOM_RESOURCES = new Set([
  'monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule',
]);

function find<T>(docs: Manifest[], kind: string, name: string): T {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  expect(doc, `${kind} ${name} is rendered`).to.not.equal(undefined);
  return doc as unknown as T;
}

function findAll<T>(docs: Manifest[], kind: string): T[] {
  return docs.filter((d) => d.kind === kind) as unknown as T[];
}

function deployment(docs: Manifest[], role: Role): IDeployment {
  return find<IDeployment>(docs, 'Deployment', `${FULLNAME}-${role}`);
}

function container(docs: Manifest[], role: Role): IContainer {
  const containers = deployment(docs, role).spec?.template.spec?.containers ?? [];
  expect(containers, `${role} containers`).to.have.length(1);
  return containers[0] as IContainer;
}

function roleConfig(docs: Manifest[], role: Role): Record<string, string> {
  return find<IConfigMap>(docs, 'ConfigMap', `${FULLNAME}-${role}`).data ?? {};
}

function podLabels(d: IDeployment): Record<string, string> {
  return d.spec?.template.metadata?.labels ?? {};
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** The number a probe's named or numbered port stands for in this container. */
function probePort(c: IContainer, probe: IProbe | undefined): number | undefined {
  const port = probe?.httpGet?.port;
  if (typeof port === 'number') return port;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function startScriptTargets(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const out: Record<string, string> = {};
  for (const [name, cmd] of Object.entries(pkg.scripts)) {
    const m = /^node\s+(\S+)/.exec(cmd);
    if (name.startsWith('start') && m?.[1]) out[name] = m[1];
  }
  return out;
}

describe('Helm chart (deploy/helm/events-proxy)', function () {
  this.timeout(60_000);

  for (const c of valuesCases()) {
    describe(`chart with ${c.name}`, function () {
      let docs: Manifest[] = [];
      let v: Record<string, unknown> = {};

      before(function () {
        docs = render(c);
        v = values(c);
      });

      it('passes helm lint --strict', function () {
        const out = lint(c);
        expect(out).to.match(/0 chart\(s\) failed/);
        expect(out).to.not.match(/\[(WARNING|ERROR)\]/);
      });

      it('renders manifests that validate against the Kubernetes schemas', function () {
        expect(docs.length).to.be.greaterThan(5);
        const seen = new Set<string>();
        for (const doc of docs) {
          const key = `${doc.apiVersion}/${doc.kind}`;
          const id = `${key} ${doc.metadata?.name}`;
          expect(doc.metadata?.name, `${key} has a name`).to.match(/^[a-z0-9][-a-z0-9.]*$/);
          expect(seen.has(id), `${id} rendered once`).to.equal(false);
          seen.add(id);
          const Model = MODELS[key];
          if (Model) {
            try {
              new Model(doc as never).validate();
            } catch (err) {
              throw new Error(`${id} does not validate: ${(err as Error).message}`, { cause: err });
            }
          } else {
            expect(CUSTOM_RESOURCES.has(key), `${key} is a known kind`).to.equal(true);
            expect(doc.spec, `${id} has a spec`).to.be.an('object');
          }
          if (!(doc.kind === 'ConfigMap' && doc.metadata.name === `${FULLNAME}-dashboard`)) {
            expect(doc.metadata.namespace, `${id} namespace`).to.equal(NAMESPACE);
          }
          expect(doc.metadata.labels?.['app.kubernetes.io/instance'], `${id} instance label`).to.equal(
            RELEASE,
          );
        }
      });

      it('sets exactly the variables each role reads (ENV_NAMES)', async function () {
        for (const role of ROLES) {
          const wanted = (await chartEnvNames(role)).filter(
            (n) => !CONDITIONAL_ENV[n] || CONDITIONAL_ENV[n](v),
          );
          const extra = ((get(v, `${role}.extraEnv`) as { name: string }[] | undefined) ?? []).map(
            (e) => e.name,
          );
          const names = (container(docs, role).env ?? []).map((e) => e.name);
          expect(new Set(names).size, `${role}: no variable set twice`).to.equal(names.length);
          expect(
            names.filter((n) => !extra.includes(n)).sort(),
            `${role}: env names vs ENV_NAMES (conditional ones only when configured)`,
          ).to.deep.equal([...new Set(wanted)].sort());
        }
      });

      it('resolves every env reference to a rendered ConfigMap or Secret key', function () {
        const existingSecret = get(v, 'existingSecret.name') as string;
        for (const role of ROLES) {
          for (const e of container(docs, role).env ?? []) {
            const cm = e.valueFrom?.configMapKeyRef;
            const sec = e.valueFrom?.secretKeyRef;
            if (cm) {
              expect(cm.name, `${e.name} ConfigMap`).to.equal(`${FULLNAME}-${role}`);
              const data = find<IConfigMap>(docs, 'ConfigMap', cm.name as string).data ?? {};
              expect(data, `${role} ConfigMap has ${cm.key}`).to.have.property(cm.key);
              expect(cm.key, 'key is the variable name').to.equal(e.name);
            } else if (sec) {
              const authSecret = get(v, 'auth.existingSecret.name') as string;
              if (e.name === 'AUTH_JWT_SECRET' && authSecret) {
                expect(sec.name, 'AUTH_JWT_SECRET Secret').to.equal(authSecret);
                expect(sec.key, 'AUTH_JWT_SECRET key').to.equal(get(v, 'auth.existingSecret.secretKey'));
              } else if (existingSecret) {
                expect(sec.name, `${e.name} Secret`).to.equal(existingSecret);
                expect(
                  docs.some((d) => d.kind === 'Secret'),
                  'no Secret rendered',
                ).to.equal(false);
              } else {
                const data = find<ISecret>(docs, 'Secret', sec.name as string).data ?? {};
                expect(data, `Secret has ${sec.key}`).to.have.property(sec.key);
                expect(
                  Buffer.from(data[sec.key] ?? '', 'base64').toString(),
                  `${sec.key} value`,
                ).to.not.equal('');
              }
            } else {
              expect(e.value, `${e.name} is a literal (extraEnv)`).to.be.a('string');
            }
          }
        }
      });

      it('gives the edge alone the access-control and client-limit settings', function () {
        const ingestEnv = (container(docs, 'ingest').env ?? []).map((e) => e.name);
        const ingestCm = Object.keys(roleConfig(docs, 'ingest'));
        for (const name of ACCESS_ENV) {
          expect(ingestEnv, `ingest env has no ${name}`).to.not.include(name);
          expect(ingestCm, `ingest ConfigMap has no ${name}`).to.not.include(name);
        }
        const cm = roleConfig(docs, 'edge');
        expect(cm.AUTH_MODE).to.equal(get(v, 'auth.mode'));
        expect(cm.AUTH_COOKIE_NAME).to.equal(get(v, 'auth.cookieName'));
        expect(cm.AUTH_CLOCK_SKEW_SECONDS).to.equal(String(get(v, 'auth.clockSkewSeconds')));
        expect(cm.AUTH_JWT_KEYS_RELOAD_SECONDS).to.equal(String(get(v, 'auth.keysReloadSeconds')));
        expect(cm.AUTH_JWT_ISSUER).to.equal((get(v, 'auth.jwtIssuer') as string) || undefined);
        expect(cm.AUTH_JWT_AUDIENCE).to.equal((get(v, 'auth.jwtAudience') as string) || undefined);
        expect(cm.TRUST_PROXY).to.equal(String(get(v, 'edge.config.trustProxy')));
        expect(cm.MAX_STREAMS_PER_IP).to.equal(String(get(v, 'edge.config.maxStreamsPerIp')));
        expect(cm.MAX_STREAMS_PER_SUBJECT).to.equal(String(get(v, 'edge.config.maxStreamsPerSubject')));
        expect(cm.CONNECT_RATE_PER_IP).to.equal(String(get(v, 'edge.config.connectRatePerIp')));
        expect(cm.CONNECT_BURST_PER_IP).to.equal(String(get(v, 'edge.config.connectBurstPerIp')));
        expect(cm.CLIENT_LEASE_SECONDS).to.equal(String(get(v, 'edge.config.clientLeaseSeconds')));
        for (const d of findAll<IConfigMap>(docs, 'ConfigMap')) {
          expect(Object.keys(d.data ?? {}), `${d.metadata?.name} holds no AUTH_JWT_SECRET`).to.not.include(
            'AUTH_JWT_SECRET',
          );
        }
      });

      it('gives the edge alone the elastic-tier settings (REBALANCE_*, MAX_STREAM_SECONDS)', function () {
        const cm = roleConfig(docs, 'edge');
        expect(cm.REBALANCE_TOLERANCE).to.equal(String(get(v, 'edge.config.rebalanceTolerance')));
        expect(cm.REBALANCE_RATE_PER_SECOND).to.equal(String(get(v, 'edge.config.rebalanceRatePerSecond')));
        expect(cm.MAX_STREAM_SECONDS).to.equal(String(get(v, 'edge.config.maxStreamSeconds')));
        const ingest = Object.keys(roleConfig(docs, 'ingest'));
        for (const name of ELASTIC_ENV)
          expect(ingest, `ingest ConfigMap has no ${name}`).to.not.include(name);
      });

      it('mounts the JWKS Secret as a read-only directory when configured', function () {
        const pod = deployment(docs, 'edge').spec?.template.spec;
        const volume = pod?.volumes?.find((vol) => vol.name === JWKS_VOLUME);
        const mounts = (container(docs, 'edge').volumeMounts ?? []).filter((m) => m.name === JWKS_VOLUME);
        const secretName = get(v, 'auth.publicKeys.existingSecret') as string;
        const file = roleConfig(docs, 'edge').AUTH_JWT_PUBLIC_KEYS_FILE;
        if (!(authJwt(v) && secretName)) {
          expect(volume, 'no JWKS volume').to.equal(undefined);
          expect(mounts, 'no JWKS mount').to.have.length(0);
          expect(file, 'no AUTH_JWT_PUBLIC_KEYS_FILE').to.equal(undefined);
          return;
        }
        const key = get(v, 'auth.publicKeys.key') as string;
        expect(volume?.secret?.secretName).to.equal(secretName);
        expect(volume?.secret?.items).to.deep.equal([{ key, path: key }]);
        expect(mounts).to.have.length(1);
        const mount = mounts[0];
        expect(mount?.readOnly, 'read-only').to.equal(true);
        expect(mount?.subPath, 'no subPath (it would stop Secret updates reaching the file)').to.equal(
          undefined,
        );
        expect(mount?.subPathExpr).to.equal(undefined);
        expect(mount?.mountPath).to.equal(JWKS_DIR);
        expect(file).to.equal(`${JWKS_DIR}/${key}`);
        for (const m of findAll<IDeployment>(docs, 'Deployment')) {
          if (m.metadata?.name === `${FULLNAME}-edge`) continue;
          expect(
            (m.spec?.template.spec?.volumes ?? []).map((vol) => vol.name),
            `${m.metadata?.name} has no JWKS volume`,
          ).to.not.include(JWKS_VOLUME);
        }
      });

      it('serves probes and metrics on METRICS_PORT', function () {
        for (const role of ROLES) {
          const metricsPort = Number(roleConfig(docs, role).METRICS_PORT);
          expect(metricsPort, `${role} METRICS_PORT`).to.equal(Number(get(v, 'config.metricsPort')));
          const ctr = container(docs, role);
          expect(
            ctr.ports?.find((p) => p.name === 'metrics')?.containerPort,
            `${role} metrics port`,
          ).to.equal(metricsPort);
          expect(ctr.readinessProbe?.httpGet?.path).to.equal('/readyz');
          expect(ctr.livenessProbe?.httpGet?.path).to.equal('/healthz');
          for (const probe of [ctr.readinessProbe, ctr.livenessProbe, ctr.startupProbe]) {
            if (probe) expect(probePort(ctr, probe), `${role} probe port`).to.equal(metricsPort);
          }
          const svc = find<IService>(docs, 'Service', `${FULLNAME}-${role}`);
          const svcMetrics = svc.spec?.ports?.find((p) => p.name === 'metrics');
          expect(svcMetrics?.targetPort, `${role} Service metrics targetPort`).to.equal('metrics');
          expect(svcMetrics?.port).to.equal(metricsPort);
          expect(
            selects(svc.spec?.selector, podLabels(deployment(docs, role))),
            `${role} Service selects its pods`,
          ).to.equal(true);
          const other = deployment(docs, role === 'edge' ? 'ingest' : 'edge');
          expect(
            selects(svc.spec?.selector, podLabels(other)),
            `${role} Service skips the other tier`,
          ).to.equal(false);
        }
        const edge = container(docs, 'edge');
        const port = Number(roleConfig(docs, 'edge').PORT);
        expect(edge.ports?.find((p) => p.name === 'http')?.containerPort, 'edge http port = PORT').to.equal(
          port,
        );
        const svc = find<IService>(docs, 'Service', `${FULLNAME}-edge`);
        expect(svc.spec?.ports?.find((p) => p.name === 'http')?.targetPort).to.equal('http');
      });

      it('autoscales the edge Deployment on events_edge_connections (and CPU)', function () {
        const hpas = findAll<IHorizontalPodAutoscaler>(docs, 'HorizontalPodAutoscaler');
        const edge = deployment(docs, 'edge');
        if (!get(v, 'edge.autoscaling.enabled')) {
          expect(hpas, 'no HPA when autoscaling is off').to.have.length(0);
          expect(edge.spec?.replicas).to.equal(get(v, 'edge.replicaCount'));
          return;
        }
        expect(hpas).to.have.length(1);
        const hpa = hpas[0] as IHorizontalPodAutoscaler;
        expect(hpa.spec?.scaleTargetRef).to.deep.equal({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: edge.metadata?.name,
        });
        expect(edge.spec?.replicas, 'the HPA owns the replica count').to.equal(undefined);
        const pods = hpa.spec?.metrics?.find((m) => m.type === 'Pods');
        expect(pods?.pods?.metric.name).to.equal('events_edge_connections');
        expect(pods?.pods?.target.type).to.equal('AverageValue');
        expect(String(pods?.pods?.target.averageValue)).to.equal(
          String(get(v, 'edge.autoscaling.connectionsPerPod')),
        );
        const cpu = hpa.spec?.metrics?.find((m) => m.type === 'Resource');
        if (get(v, 'edge.autoscaling.cpuUtilization')) {
          expect(cpu?.resource?.name).to.equal('cpu');
          expect(cpu?.resource?.target.averageUtilization).to.equal(
            get(v, 'edge.autoscaling.cpuUtilization'),
          );
          expect(
            container(docs, 'edge').resources?.requests?.cpu,
            'CPU utilization needs a request',
          ).to.not.equal(undefined);
        }
        const down = hpa.spec?.behavior?.scaleDown;
        expect(down?.stabilizationWindowSeconds ?? 0, 'slow scale-down').to.be.at.least(300);
        expect(hpa.spec?.minReplicas ?? 1).to.be.at.most(hpa.spec?.maxReplicas ?? 0);
      });

      it('gives the edge enough grace for preStop sleep + DRAIN_SECONDS', function () {
        const spec = deployment(docs, 'edge').spec?.template.spec;
        const command = container(docs, 'edge').lifecycle?.preStop?.exec?.command;
        let preStop = 0;
        if (command) {
          expect(command[0], 'preStop runs sleep').to.equal('sleep');
          preStop = Number(command[1]);
        }
        expect(preStop).to.equal(Number(get(v, 'edge.preStopSleepSeconds')));
        const drain = Number(roleConfig(docs, 'edge').DRAIN_SECONDS);
        expect(drain).to.equal(Number(get(v, 'edge.config.drainSeconds')));
        expect(spec?.terminationGracePeriodSeconds, 'grace > preStop + DRAIN_SECONDS').to.be.greaterThan(
          preStop + drain,
        );
      });

      it('runs both tiers with a restricted security context', function () {
        for (const role of ROLES) {
          const pod = deployment(docs, role).spec?.template.spec;
          const ctr = container(docs, role);
          expect(pod?.hostNetwork ?? false).to.equal(false);
          expect(pod?.hostPID ?? false).to.equal(false);
          expect(pod?.hostIPC ?? false).to.equal(false);
          expect(pod?.automountServiceAccountToken, `${role} mounts no API token`).to.equal(false);
          expect(pod?.securityContext?.runAsNonRoot, `${role} pod runAsNonRoot`).to.equal(true);
          expect(pod?.securityContext?.seccompProfile?.type).to.equal('RuntimeDefault');
          const sc = ctr.securityContext;
          expect(sc?.runAsNonRoot ?? pod?.securityContext?.runAsNonRoot).to.equal(true);
          expect(sc?.runAsUser ?? pod?.securityContext?.runAsUser, `${role} uid`)
            .to.be.a('number')
            .above(0);
          expect(sc?.allowPrivilegeEscalation, `${role} allowPrivilegeEscalation`).to.equal(false);
          expect(sc?.privileged ?? false).to.equal(false);
          expect(sc?.readOnlyRootFilesystem, `${role} readOnlyRootFilesystem`).to.equal(true);
          expect(sc?.capabilities?.drop, `${role} drops ALL capabilities`).to.include('ALL');
          expect(sc?.capabilities?.add ?? []).to.deep.equal([]);
          expect(sc?.seccompProfile?.type ?? pod?.securityContext?.seccompProfile?.type).to.equal(
            'RuntimeDefault',
          );
        }
      });

      it('starts each role with the command of its npm start script', function () {
        const targets = startScriptTargets();
        expect(container(docs, 'edge').command).to.deep.equal(['node', targets['start:edge']]);
        expect(container(docs, 'ingest').command).to.deep.equal(['node', targets['start:ingest']]);
      });

      it('rolls the pods when their configuration changes (checksum annotations)', function () {
        for (const role of ROLES) {
          const annotations = deployment(docs, role).spec?.template.metadata?.annotations ?? {};
          expect(annotations['checksum/config'], `${role} checksum/config`).to.match(/^[0-9a-f]{64}$/);
          if (!get(v, 'existingSecret.name')) {
            expect(annotations['checksum/secret'], `${role} checksum/secret`).to.match(/^[0-9a-f]{64}$/);
          }
        }
      });

      it('protects both tiers with PodDisruptionBudgets when enabled', function () {
        const pdbs = findAll<IPodDisruptionBudget>(docs, 'PodDisruptionBudget');
        for (const role of ROLES) {
          const enabled = Boolean(get(v, `${role}.podDisruptionBudget.enabled`));
          const mine = pdbs.filter((p) =>
            selects(p.spec?.selector?.matchLabels, podLabels(deployment(docs, role))),
          );
          expect(mine, `${role} PDB`).to.have.length(enabled ? 1 : 0);
          const pdb = mine[0];
          if (pdb) {
            const spec = pdb.spec ?? {};
            expect(
              (spec.minAvailable === undefined) !== (spec.maxUnavailable === undefined),
              'exactly one of minAvailable/maxUnavailable',
            ).to.equal(true);
          }
        }
      });

      it('keeps SSE unbuffered and long-lived behind the Ingress (when enabled)', function () {
        const ingresses = findAll<IIngress>(docs, 'Ingress');
        expect(ingresses).to.have.length(get(v, 'ingress.enabled') ? 1 : 0);
        for (const ing of ingresses) {
          for (const rule of ing.spec?.rules ?? []) {
            for (const p of rule.http?.paths ?? []) {
              expect(p.backend.service?.name).to.equal(`${FULLNAME}-edge`);
              expect(p.backend.service?.port?.name).to.equal('http');
            }
          }
          if (get(v, 'ingress.nginxSseAnnotations')) {
            const a = ing.metadata?.annotations ?? {};
            const ping = Number(roleConfig(docs, 'edge').PING_INTERVAL_SECONDS);
            expect(a['nginx.ingress.kubernetes.io/proxy-buffering']).to.equal('off');
            expect(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout']))
              .to.be.at.least(3600)
              .and.above(ping);
            expect(Number(a['nginx.ingress.kubernetes.io/proxy-send-timeout'])).to.be.at.least(3600);
          }
        }
      });

      it('scrapes both tiers with the ServiceMonitor (when enabled)', function () {
        const monitors = docs.filter((d) => d.kind === 'ServiceMonitor');
        expect(monitors).to.have.length(get(v, 'metrics.serviceMonitor.enabled') ? 1 : 0);
        for (const sm of monitors) {
          expect(sm.apiVersion).to.equal('monitoring.coreos.com/v1');
          const spec = sm.spec as {
            selector: { matchLabels: Record<string, string> };
            endpoints: { port: string; path: string }[];
          };
          for (const role of ROLES) {
            const svc = find<IService>(docs, 'Service', `${FULLNAME}-${role}`);
            expect(
              selects(spec.selector.matchLabels, svc.metadata?.labels ?? {}),
              `selects ${role} Service`,
            ).to.equal(true);
          }
          expect(spec.endpoints).to.have.length.greaterThan(0);
          expect(spec.endpoints[0]).to.include({ port: 'metrics', path: '/metrics' });
        }
      });

      it('alerts on known metric names only (PrometheusRule, when enabled)', function () {
        const rules = docs.filter((d) => d.kind === 'PrometheusRule');
        expect(rules).to.have.length(get(v, 'metrics.prometheusRule.enabled') ? 1 : 0);
        for (const pr of rules) {
          expect(pr.apiVersion).to.equal('monitoring.coreos.com/v1');
          const groups = (pr.spec as { groups: { name: string; rules: Record<string, unknown>[] }[] }).groups;
          expect(groups).to.have.length.greaterThan(0);
          for (const group of groups) {
            expect(group.rules).to.have.length.greaterThan(0);
            for (const rule of group.rules) {
              expect(rule.alert ?? rule.record, 'rule name').to.be.a('string');
              expect(rule.expr, `${String(rule.alert)} expr`).to.be.a('string');
              if (rule.alert) {
                expect(rule.labels, `${String(rule.alert)} severity`).to.have.property('severity');
                expect(rule.annotations, `${String(rule.alert)} summary`).to.have.property('summary');
              }
              for (const name of promqlMetricNames(String(rule.expr))) {
                expect(
                  ALLOWED_DASHBOARD_METRIC_NAMES.has(name) || name === 'up',
                  `${String(rule.alert)} uses unknown metric ${name}`,
                ).to.equal(true);
              }
            }
          }
        }
      });

      it("ships deploy/grafana's dashboard in the sidecar ConfigMap (when enabled)", function () {
        const cms = findAll<IConfigMap>(docs, 'ConfigMap').filter(
          (c) => c.metadata?.name === `${FULLNAME}-dashboard`,
        );
        expect(cms).to.have.length(get(v, 'metrics.grafanaDashboard.enabled') ? 1 : 0);
        for (const cm of cms) {
          expect(cm.metadata?.labels?.grafana_dashboard).to.equal('1');
          const data = cm.data ?? {};
          expect(Object.keys(data)).to.deep.equal(['events-proxy-dashboard.json']);
          expect(data['events-proxy-dashboard.json']).to.equal(readFileSync(DASHBOARD_PATH, 'utf8'));
          const ns = get(v, 'metrics.grafanaDashboard.namespace') as string;
          expect(cm.metadata?.namespace).to.equal(ns || NAMESPACE);
        }
      });
    });
  }

  describe('chart across values', function () {
    it('keeps its dashboard copy identical to deploy/grafana/events-proxy-dashboard.json', function () {
      const copy = readFileSync(path.join(CHART_DIR, 'dashboards/events-proxy-dashboard.json'), 'utf8');
      expect(
        copy === readFileSync(DASHBOARD_PATH, 'utf8'),
        'run: cp deploy/grafana/*.json deploy/helm/events-proxy/dashboards/',
      ).to.equal(true);
    });

    it('renders the core resources by default and the optional ones only when asked', function () {
      const docs = render({ name: 'defaults' });
      const kinds = docs.map((d) => d.kind).sort();
      expect(kinds).to.deep.equal(
        [
          'ConfigMap',
          'ConfigMap',
          'Deployment',
          'Deployment',
          'HorizontalPodAutoscaler',
          'PodDisruptionBudget',
          'PodDisruptionBudget',
          'Secret',
          'Service',
          'Service',
          'ServiceAccount',
        ].sort(),
      );
    });

    it('has a CI values file that turns every optional resource on', function () {
      const wanted = [
        'Ingress',
        'ServiceMonitor',
        'PrometheusRule',
        'HorizontalPodAutoscaler',
        'PodDisruptionBudget',
      ];
      const full = valuesCases().find((c) => {
        const kinds = new Set(render(c).map((d) => d.kind));
        return (
          wanted.every((k) => kinds.has(k)) && Boolean(get(values(c), 'metrics.grafanaDashboard.enabled'))
        );
      });
      expect(full, `a ci/*.yaml rendering ${wanted.join(', ')} and the dashboard`).to.not.equal(undefined);
    });

    it('can set every variable the services read, and documents each in values.yaml', async function () {
      const valuesYaml = readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8');
      for (const role of ROLES) {
        const reachable = new Set<string>();
        for (const c of valuesCases()) {
          for (const e of container(render(c), role).env ?? []) reachable.add(e.name);
        }
        for (const name of await envNames(role)) {
          expect(reachable.has(name), `${role}: ${name} is set by some values file`).to.equal(true);
          expect(valuesYaml, `values.yaml documents [${name}]`).to.include(`[${name}]`);
        }
      }
    });

    it("changes only the affected tier's config checksum when a value changes", function () {
      const checksum = (docs: Manifest[], role: Role): string | undefined =>
        deployment(docs, role).spec?.template.metadata?.annotations?.['checksum/config'];
      const base = render({ name: 'defaults' });
      const edgeChanged = render({ name: 'defaults' }, ['--set', 'edge.config.drainSeconds=7']);
      expect(checksum(edgeChanged, 'edge')).to.not.equal(checksum(base, 'edge'));
      expect(checksum(edgeChanged, 'ingest')).to.equal(checksum(base, 'ingest'));
      const shared = render({ name: 'defaults' }, ['--set', 'config.logLevel=debug']);
      expect(checksum(shared, 'edge')).to.not.equal(checksum(base, 'edge'));
      expect(checksum(shared, 'ingest')).to.not.equal(checksum(base, 'ingest'));
    });

    it('computes terminationGracePeriodSeconds from preStop, DRAIN_SECONDS and the margin', function () {
      const docs = render({ name: 'defaults' }, [
        '--set',
        'edge.preStopSleepSeconds=7,edge.config.drainSeconds=20,edge.terminationGraceMarginSeconds=3',
      ]);
      expect(deployment(docs, 'edge').spec?.template.spec?.terminationGracePeriodSeconds).to.equal(30);
    });

    it('ships the prometheus-adapter rule for events_edge_connections in values and docs', function () {
      const v = parseYaml(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<
        string,
        unknown
      >;
      const rules = get(v, 'prometheusAdapter.rules.custom') as {
        seriesQuery: string;
        resources: { overrides: Record<string, { resource: string }> };
        name: { as: string };
        metricsQuery: string;
      }[];
      const rule = rules.find((r) => r.seriesQuery.startsWith('events_edge_connections{'));
      expect(rule, 'adapter rule').to.not.equal(undefined);
      expect(rule?.name.as).to.equal('events_edge_connections');
      expect(rule?.resources.overrides.pod?.resource).to.equal('pod');
      expect(rule?.resources.overrides.namespace?.resource).to.equal('namespace');
      const docs = readFileSync(path.join(ROOT, 'docs/operations.md'), 'utf8');
      expect(docs, 'docs/operations.md shows the same rule').to.include(rule?.seriesQuery);
      expect(docs).to.include(rule?.metricsQuery);
    });

    it('keeps an HS256 auth.jwtSecret in the Secret only, and only for the edge', function () {
      const jwtSecret = 'quick-start-hs256-secret-0123456789abcdef';
      const args = ['--set', `auth.mode=jwt,auth.jwtSecret=${jwtSecret}`];
      const out = helm(['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...args]);
      expect(out, 'the secret appears nowhere in clear').to.not.include(jwtSecret);
      const docs = render({ name: 'defaults' }, args);
      const b64 = Buffer.from(jwtSecret).toString('base64');
      for (const cm of findAll<IConfigMap>(docs, 'ConfigMap')) {
        const data = JSON.stringify(cm.data ?? {});
        expect(data, `${cm.metadata?.name} holds no secret`).to.not.include(jwtSecret);
        expect(data, `${cm.metadata?.name} holds no base64 secret`).to.not.include(b64);
      }
      const secret = find<ISecret>(docs, 'Secret', FULLNAME);
      expect(Buffer.from(secret.data?.AUTH_JWT_SECRET ?? '', 'base64').toString()).to.equal(jwtSecret);
      const ref = (container(docs, 'edge').env ?? []).find((e) => e.name === 'AUTH_JWT_SECRET');
      expect(ref?.value, 'not a literal').to.equal(undefined);
      expect(ref?.valueFrom?.secretKeyRef).to.deep.equal({ name: FULLNAME, key: 'AUTH_JWT_SECRET' });
      expect((container(docs, 'ingest').env ?? []).map((e) => e.name)).to.not.include('AUTH_JWT_SECRET');
      const checksum = (d: Manifest[]): string | undefined =>
        deployment(d, 'edge').spec?.template.metadata?.annotations?.['checksum/secret'];
      const rotated = render({ name: 'defaults' }, ['--set', `auth.mode=jwt,auth.jwtSecret=${jwtSecret}2`]);
      expect(checksum(rotated), 'a new secret rolls the edge').to.not.equal(checksum(docs));
    });

    it('takes the HS256 secret from auth.existingSecret by reference, not into the chart', function () {
      const docs = render({ name: 'defaults' }, [
        '--set',
        'auth.mode=jwt,auth.existingSecret.name=my-auth,auth.existingSecret.secretKey=hs',
      ]);
      const ref = (container(docs, 'edge').env ?? []).find((e) => e.name === 'AUTH_JWT_SECRET');
      expect(ref?.valueFrom?.secretKeyRef).to.deep.equal({ name: 'my-auth', key: 'hs' });
      const secret = find<ISecret>(docs, 'Secret', FULLNAME);
      expect(Object.keys(secret.data ?? {})).to.not.include('AUTH_JWT_SECRET');
    });

    it('wires no key source with auth.mode=none', function () {
      const docs = render({ name: 'defaults' }, [
        '--set',
        'auth.existingSecret.name=my-auth,auth.publicKeys.existingSecret=my-jwks',
      ]);
      const names = (container(docs, 'edge').env ?? []).map((e) => e.name);
      expect(roleConfig(docs, 'edge').AUTH_MODE).to.equal('none');
      expect(names).to.not.include('AUTH_JWT_SECRET');
      expect(names).to.not.include('AUTH_JWT_PUBLIC_KEYS_FILE');
      const volumes = deployment(docs, 'edge').spec?.template.spec?.volumes ?? [];
      expect(volumes.map((vol) => vol.name)).to.deep.equal(['tmp']);
    });

    it('fails with a clear message on auth values it cannot use', function () {
      const fails = (set: string, message: RegExp, skipSchema = false): void => {
        const extra = ['--set', set, ...(skipSchema ? ['--skip-schema-validation'] : [])];
        expect(() => render({ name: 'defaults' }, extra), set).to.throw(message);
      };
      fails(
        'auth.mode=jwt',
        /auth\.mode=jwt needs a key to check tokens with: set auth\.jwtSecret or auth\.existingSecret\.name .*auth\.publicKeys\.existingSecret/,
      );
      // The schema refuses an unknown mode first; the template says so too when it is skipped.
      fails('auth.mode=oauth', /auth\/mode|mode.*(enum|must be one of)|oauth/i);
      fails('auth.mode=oauth', /auth\.mode must be "none" or "jwt", not "oauth"/, true);
      const secret = 'x'.repeat(32);
      fails(
        `auth.mode=jwt,auth.jwtSecret=${secret},auth.existingSecret.name=my-auth`,
        /set auth\.jwtSecret or auth\.existingSecret\.name, not both/,
      );
      fails(
        `auth.mode=jwt,auth.jwtSecret=${secret},existingSecret.name=connections`,
        /auth\.jwtSecret goes into the chart's Secret, which is not rendered when existingSecret\.name is set/,
      );
      fails('auth.mode=jwt,auth.jwtSecret=too-short', /jwtSecret/);
      fails(
        'auth.mode=jwt,auth.jwtSecret=too-short',
        /auth\.jwtSecret \(AUTH_JWT_SECRET\) must be at least 32 bytes/,
        true,
      );
      // Either key source alone is enough.
      expect(() =>
        render({ name: 'defaults' }, ['--set', 'auth.mode=jwt,auth.publicKeys.existingSecret=k']),
      ).to.not.throw();
      expect(() =>
        render({ name: 'defaults' }, ['--set', `auth.mode=jwt,auth.jwtSecret=${secret}`]),
      ).to.not.throw();
    });

    it('renders a Redis Sentinel target: REDIS_SENTINELS and its password secret, the master name in the ConfigMaps', function () {
      const sentinels = 'redis://:pw@s-0:26379,s-1:26379';
      const docs = render({ name: 'defaults' }, [
        '--set',
        `redis.sentinels=${sentinels.replace(/,/g, '\\,')},redis.sentinelMaster=mymaster,redis.sentinelPassword=spw`,
      ]);
      const secret = find<ISecret>(docs, 'Secret', FULLNAME).data ?? {};
      const decoded = (key: string) => Buffer.from(secret[key] ?? '', 'base64').toString();
      expect(decoded('REDIS_SENTINELS')).to.equal(sentinels);
      expect(decoded('REDIS_SENTINEL_PASSWORD')).to.equal('spw');
      expect(secret).to.not.have.property('REDIS_URL');
      for (const role of ROLES) {
        expect(roleConfig(docs, role).REDIS_SENTINEL_MASTER, role).to.equal('mymaster');
        expect(roleConfig(docs, role).BUS_DRIVER, `${role}: a standalone topology`).to.equal('redis');
        const names = (container(docs, role).env ?? []).map((e) => e.name);
        expect(names, role).to.include.members([
          'REDIS_SENTINELS',
          'REDIS_SENTINEL_MASTER',
          'REDIS_SENTINEL_PASSWORD',
        ]);
        expect(names, role).to.not.include('REDIS_URL');
      }
      // From a Secret the user manages.
      const existing = render({ name: 'defaults' }, [
        '--set',
        'existingSecret.name=conn,existingSecret.keys.redisSentinels=sentinels,redis.sentinelMaster=mymaster',
      ]);
      const env = container(existing, 'ingest').env ?? [];
      expect(env.find((e) => e.name === 'REDIS_SENTINELS')?.valueFrom?.secretKeyRef).to.deep.equal({
        name: 'conn',
        key: 'sentinels',
      });
      expect(env.map((e) => e.name)).to.not.include.members(['REDIS_URL', 'REDIS_SENTINEL_PASSWORD']);
    });

    it('fails with a clear message on Redis values it cannot use', function () {
      const fails = (set: string, message: RegExp): void => {
        expect(() => render({ name: 'defaults' }, ['--set', set]), set).to.throw(message);
      };
      fails(
        'redis.clusterNodes=redis://c-0:6379,redis.sentinels=s-0:26379,redis.sentinelMaster=m',
        /redis\.clusterNodes and redis\.sentinels are both set: set redis\.clusterNodes for a Redis Cluster, redis\.sentinels \(with redis\.sentinelMaster\) for a Redis Sentinel group, or neither and redis\.url/,
      );
      fails(
        'existingSecret.name=conn,existingSecret.keys.redisClusterNodes=a,existingSecret.keys.redisSentinels=b',
        /existingSecret\.keys\.redisClusterNodes and existingSecret\.keys\.redisSentinels are both set/,
      );
      fails(
        'redis.sentinels=s-0:26379',
        /redis\.sentinelMaster \(REDIS_SENTINEL_MASTER\) is required with redis\.sentinels/,
      );
      fails(
        'existingSecret.name=conn,existingSecret.keys.redisSentinels=b',
        /redis\.sentinelMaster \(REDIS_SENTINEL_MASTER\) is required/,
      );
      fails(
        'redis.sentinelPassword=x',
        /redis\.sentinelPassword is the sentinels' own password: set redis\.sentinels/,
      );
      fails(
        'existingSecret.name=conn,existingSecret.keys.redisSentinels=b,redis.sentinelMaster=m,redis.sentinelPassword=x',
        /redis\.sentinelPassword goes into the chart's Secret, which is not rendered when existingSecret\.name is set/,
      );
      // The schema refuses a sentinel address without a port.
      fails('redis.sentinels=s-0,redis.sentinelMaster=m', /sentinels|pattern|schema/i);
    });

    it('renders the client limits as the edge parses them (decimals from --set, no exponents)', function () {
      const cm = (extra: string[]): Record<string, string> =>
        roleConfig(render({ name: 'defaults' }, extra), 'edge');
      expect(cm(['--set', 'edge.config.connectRatePerIp=0.5']).CONNECT_RATE_PER_IP).to.equal('0.5');
      expect(cm(['--set-json', 'edge.config.connectRatePerIp=1000000']).CONNECT_RATE_PER_IP).to.equal(
        '1000000',
      );
      expect(cm(['--set-json', 'edge.config.connectRatePerIp=0.25']).CONNECT_RATE_PER_IP).to.equal('0.25');
      expect(cm(['--set', 'edge.config.trustProxy=true']).TRUST_PROXY).to.equal('true');
      expect(cm(['--set', 'edge.config.trustProxy=2']).TRUST_PROXY).to.equal('2');
    });

    it('renders the elastic-tier settings as the edge parses them: defaults 0.1, 50, 0; decimals from --set', function () {
      const cm = (extra: string[] = []): Record<string, string> =>
        roleConfig(render({ name: 'defaults' }, extra), 'edge');
      const defaults = cm();
      expect([
        defaults.REBALANCE_TOLERANCE,
        defaults.REBALANCE_RATE_PER_SECOND,
        defaults.MAX_STREAM_SECONDS,
      ]).to.deep.equal(['0.1', '50', '0']);
      expect(cm(['--set', 'edge.config.rebalanceTolerance=0.25']).REBALANCE_TOLERANCE).to.equal('0.25');
      expect(cm(['--set', 'edge.config.rebalanceTolerance=0']).REBALANCE_TOLERANCE).to.equal('0');
      expect(cm(['--set-json', 'edge.config.rebalanceTolerance=2']).REBALANCE_TOLERANCE).to.equal('2');
      expect(cm(['--set', 'edge.config.maxStreamSeconds=3300']).MAX_STREAM_SECONDS).to.equal('3300');
      expect(
        cm(['--set-json', 'edge.config.rebalanceRatePerSecond=100000']).REBALANCE_RATE_PER_SECOND,
        'no exponent',
      ).to.equal('100000');
    });

    it('rejects elastic-tier values the schema forbids', function () {
      for (const set of [
        'edge.config.rebalanceTolerance=-0.1',
        'edge.config.rebalanceTolerance=10.5',
        'edge.config.rebalanceTolerance=some',
        'edge.config.rebalanceRatePerSecond=0',
        'edge.config.rebalanceRatePerSecond=100001',
        'edge.config.rebalanceRatePerSecond=1.5',
        'edge.config.maxStreamSeconds=-1',
        'edge.config.maxStreamSeconds=2592001',
        'edge.rebalanceTolerance=0.2',
      ]) {
        expect(() => render({ name: 'defaults' }, ['--set', set]), set).to.throw(/schema|additional/i);
      }
    });

    it('scales the edge down slowly and evicts one edge at a time by default (docs/operations.md#an-elastic-edge-tier)', function () {
      const docs = render({ name: 'defaults' });
      const hpa = find<IHorizontalPodAutoscaler>(docs, 'HorizontalPodAutoscaler', `${FULLNAME}-edge`);
      const down = hpa.spec?.behavior?.scaleDown;
      // Removing an edge moves all its streams: a long window rides out dips, one pod at a time.
      expect(down?.stabilizationWindowSeconds).to.be.at.least(600);
      expect(down?.policies).to.deep.equal([{ type: 'Pods', value: 1, periodSeconds: 180 }]);
      expect(down?.selectPolicy).to.equal('Min');
      const up = hpa.spec?.behavior?.scaleUp;
      expect(up?.stabilizationWindowSeconds).to.equal(0);
      const pdb = find<IPodDisruptionBudget>(docs, 'PodDisruptionBudget', `${FULLNAME}-edge`);
      expect(pdb.spec?.maxUnavailable).to.equal(1);
      expect(pdb.spec?.minAvailable).to.equal(undefined);
      // A rollout adds an edge before it stops one.
      const strategy = deployment(docs, 'edge').spec?.strategy?.rollingUpdate;
      expect(strategy?.maxUnavailable).to.equal(0);
    });

    it('rejects access-control and limit values the schema forbids', function () {
      for (const set of [
        'edge.config.trustProxy=-1',
        'edge.config.trustProxy=all',
        'edge.config.maxStreamsPerIp=-1',
        'edge.config.connectRatePerIp=-1',
        'edge.config.connectRatePerIp=fast',
        'edge.config.connectBurstPerIp=0',
        'edge.config.connectBurstPerIp=10001',
        'edge.config.clientLeaseSeconds=0',
        'edge.config.clientLeaseSeconds=3601',
        'auth.clockSkewSeconds=601',
        'auth.keysReloadSeconds=86401',
        'auth.cookieName=a;b',
        'auth.publicKeys.key=../jwks.json',
        'auth.existingSecret.secretKey=',
        'auth.jwksFile=/etc/jwks.json',
      ]) {
        expect(() => render({ name: 'defaults' }, ['--set', set]), set).to.throw(/schema|additional/i);
      }
    });

    it('the edge reads the access-control variables the chart sets', function () {
      for (const name of ACCESS_ENV) {
        expect(EDGE_ENV_NAMES as readonly string[], `services/edge reads ${name}`).to.include(name);
      }
    });

    it('rejects values the schema forbids', function () {
      expect(() => render({ name: 'defaults' }, ['--set', 'config.busDriver=kafka'])).to.throw(
        /busDriver|enum|schema/i,
      );
      expect(() => render({ name: 'defaults' }, ['--set', 'edge.config.maxConnections=lots'])).to.throw();
      expect(() => render({ name: 'defaults' }, ['--set', 'edge.autoscalling.enabled=true'])).to.throw(
        /additional|autoscalling/i,
      );
    });
  });
});
