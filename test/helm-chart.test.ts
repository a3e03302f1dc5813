import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import test from "ava";
import ajv from "ajv";
import { DaemonSet, Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from "kubernetes-models/v1";
import { parse } from "yaml";
import { parseSeedDocument } from "../cli/commands/models-seed.js";
import { loadChart, mergeValues, renderChart, TemplateError, type Chart, type KubernetesObject, type RenderedChart } from "./support/helm-render.js";
import { variablesReadByConfig } from "./support/config-variables.js";

// The Helm chart, checked without a `helm` binary: its values against values.schema.json (as Helm
// does on install), its templates rendered by test/support/helm-render.ts (which refuses any
// function outside a small set), the objects against Kubernetes' schemas, and the facts a user of
// the chart relies on: probes, draining, secrets kept out of ConfigMaps, the real variable names.

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const chartDirectory = path.join(root, "helm", "iir");
const chart = loadChart(chartDirectory);
const schema = JSON.parse(fs.readFileSync(path.join(chartDirectory, "values.schema.json"), "utf8")) as object;
const validateValues = new ajv.default({ allErrors: true, strict: true }).compile(schema);

const examples = fs
  .readdirSync(path.join(chartDirectory, "examples"))
  .filter((file) => file.endsWith(".yaml"))
  .sort()
  .map((file) => ({ file, values: mergeValues(chart.defaults, parse(fs.readFileSync(path.join(chartDirectory, "examples", file), "utf8")) as Record<string, unknown>) }));
const valueSets = [{ file: "values.yaml", values: chart.defaults }, ...examples];

type Values = Record<string, unknown>;
type Container = { name: string; image?: string; args?: string[]; env?: EnvVar[]; envFrom?: unknown[]; securityContext?: Record<string, unknown>; [key: string]: unknown };
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
type PodSpec = { containers: Container[]; initContainers?: Container[]; securityContext?: Record<string, unknown>; terminationGracePeriodSeconds?: number; [key: string]: unknown };

const kubernetesModels: Record<string, new (object: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "apps/v1/DaemonSet": DaemonSet,
  "apps/v1/StatefulSet": StatefulSet,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
};

function withValues(override: Values): Values {
  return mergeValues(chart.defaults, override);
}

function render(values: Values): RenderedChart {
  return renderChart(chart, values);
}

function find(rendered: RenderedChart, kind: string, name: string): KubernetesObject {
  const object = rendered.objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (object === undefined) throw new Error(`no ${kind}/${name} among ${rendered.objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return object;
}

function podSpec(workload: KubernetesObject): PodSpec {
  return (workload["spec"] as { template: { spec: PodSpec } }).template.spec;
}

function container(workload: KubernetesObject, name: string): Container {
  const found = podSpec(workload).containers.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`${workload.metadata.name} has no container ${name}`);
  return found;
}

function envConfig(rendered: RenderedChart): Record<string, string> {
  return find(rendered, "ConfigMap", "iir-env")["data"] as Record<string, string>;
}

/** Every variable the container sees by name, from `env` (the ConfigMap's come through envFrom). */
function envNamed(target: Container, name: string): EnvVar | undefined {
  return target.env?.find((variable) => variable.name === name);
}

const workloadKinds = new Set(["Deployment", "DaemonSet", "StatefulSet"]);
const iirRoles = new Set(["facade", "router", "agent", "seed"]);

// ---- the renderer itself -----------------------------------------------------------------------

/** Renders one template as plain text (as NOTES.txt, which is not parsed as YAML). */
function renderSource(source: string, values: Values = {}): string {
  const fake: Chart = { ...chart, defaults: values, templates: new Map([["NOTES.txt", source]]) };
  return renderChart(fake, values).notes;
}

test("the renderer refuses functions, actions and syntax outside its set", (t) => {
  t.throws(() => renderSource("{{ upper .Values.a }}", { a: "x" }), { instanceOf: TemplateError, message: /unsupported function "upper"/ });
  t.throws(() => renderSource('{{ .Values.a | b64enc }}', { a: "x" }), { instanceOf: TemplateError, message: /unsupported function "b64enc"/ });
  t.throws(() => renderSource('{{ block "x" . }}y{{ end }}'), { instanceOf: TemplateError, message: /unsupported action "block"/ });
  t.throws(() => renderSource("{{ .Values.a.b }}"), { instanceOf: TemplateError, message: /nil pointer evaluating \.Values\.a/ });
  t.throws(() => renderSource("{{ .Values.a }}", { a: { b: 1 } }), { instanceOf: TemplateError, message: /use toYaml/ });
  t.throws(() => renderSource('{{ if eq .Values.a "1" }}{{ end }}', { a: 1 }), { instanceOf: TemplateError, message: /incompatible types/ });
  t.throws(() => renderSource("{{ if .Values.a }}"), { instanceOf: TemplateError, message: /must close with end/ });
  t.throws(() => renderSource('{{ required "a is needed" .Values.a }}'), { instanceOf: TemplateError, message: /a is needed/ });
});

test("the renderer follows Go templates: trim markers, else if, ranges in key order, lazy and/or, include", (t) => {
  const source = [
    '{{- define "greet" -}}hi {{ . }}{{- end -}}',
    "a:",
    "  {{- if .Values.off }} never {{- else if .Values.on }} on {{- end }}",
    "{{ range $key, $value := .Values.map }}{{ $key }}={{ $value }};{{ end }}",
    '{{ and .Values.missing .Values.missing.deep }}|{{ or .Values.off "fallback" }}|{{ include "greet" "you" | nindent 2 }}',
    '{{ printf "%s-%d" "x" 3 | quote }} {{ add 1 2 3 }} {{ "abcdef-" | trunc 6 | trimSuffix "f" }} {{ default "d" .Values.empty }}',
  ].join("\n");
  t.is(renderSource(source, { on: true, off: false, map: { b: 2, a: 1 }, empty: "" }), 'a: on\na=1;b=2;\n|fallback|\n  hi you\n"x-3" 6 abcde d');
});

// ---- values and their schema -------------------------------------------------------------------

for (const { file, values } of valueSets) {
  test(`values.schema.json accepts ${file}`, (t) => {
    t.true(validateValues(values), JSON.stringify(validateValues.errors, undefined, 2));
  });
}

test("values.schema.json rejects wrong types, unknown keys and unsafe combinations", (t) => {
  const rejected: [string, Values][] = [
    ["a string for a count", { facade: { replicas: "2" } }],
    ["a workload kind the chart does not make", { agent: { kind: "StatefulSet" } }],
    ["an unknown log level", { logLevel: "verbose" }],
    ["a misspelt top-level key", { routr: { replicas: 2 } }],
    ["a provider key outside EXTERNAL_*", { providers: { keys: { OPENAI_API_KEY: "sk-x" } } }],
    ["a number as an environment value", { extraEnv: { CACHE_TTL: 600 } }],
    ["two routers with per-pod SQLite registries", { router: { replicas: 2 } }],
    ["router autoscaling with per-pod SQLite registries", { router: { autoscaling: { enabled: true } } }],
    ["agents that cannot join", { agent: { enabled: true } }],
    ["a bundled Postgres without a password", { postgres: { bundled: true } }],
    ["a hostPath models volume without a path", { agent: { models: { type: "hostPath" } } }],
    ["a redis URL of another scheme", { redis: { url: "http://redis:6379" } }],
  ];
  for (const [why, override] of rejected) t.false(validateValues(withValues(override)), why);
  t.true(validateValues(withValues({ router: { replicas: 2 }, postgres: { url: "postgres://db/iir" } })), "two routers sharing Postgres are fine");
  t.true(validateValues(withValues({ agent: { enabled: true }, agentToken: { existingSecret: "tokens" } })), "agents with a token are fine");
});

test("every .Values path the templates use exists in values.yaml", (t) => {
  const used = new Set<string>();
  for (const source of chart.templates.values()) {
    for (const match of source.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) used.add((match[1] as string).slice(1));
  }
  t.true(used.size > 40, "the templates were read");
  for (const valuePath of used) {
    let current: unknown = chart.defaults;
    for (const key of valuePath.split(".")) {
      t.true(typeof current === "object" && current !== null && Object.hasOwn(current, key), `.Values.${valuePath} is not in values.yaml`);
      current = (current as Record<string, unknown>)[key];
    }
  }
});

// ---- rendered objects, for the defaults and every example --------------------------------------

// The variables IIR reads, as loadConfig reads them (providers' variables included).
const configVariables = variablesReadByConfig();

function assertCommonFacts(t: import("ava").ExecutionContext, rendered: RenderedChart, values: Values): void {
  for (const object of rendered.objects) {
    if (object.kind === "ServiceMonitor") {
      t.is(object.apiVersion, "monitoring.coreos.com/v1");
      const endpoints = (object["spec"] as { endpoints: { port: string; path: string }[] }).endpoints;
      t.true(endpoints.length > 0 && endpoints.every((endpoint) => endpoint.port !== "" && endpoint.path === "/metrics"));
      continue;
    }
    const model = kubernetesModels[`${object.apiVersion}/${object.kind}`];
    if (model === undefined) {
      t.fail(`${object.source}: ${object.apiVersion} ${object.kind} has no schema check`);
      continue;
    }
    const { source: _source, ...plain } = object;
    t.notThrows(() => new model(plain as never).validate(), `${object.kind}/${object.metadata.name} from ${object.source}`);
  }

  const grace = values["shutdownGraceSeconds"] as number;
  const preStop = values["preStopSleepSeconds"] as number;
  for (const workload of rendered.objects.filter((object) => workloadKinds.has(object.kind))) {
    const spec = podSpec(workload);
    t.is(spec.securityContext?.["runAsNonRoot"], true, `${workload.metadata.name} runs as non-root`);
    for (const each of [...spec.containers, ...(spec.initContainers ?? [])]) {
      const security = each.securityContext ?? {};
      t.deepEqual((security["capabilities"] as { drop?: string[] } | undefined)?.drop, ["ALL"], `${each.name} drops every capability`);
      t.is(security["allowPrivilegeEscalation"], false);
      if (!iirRoles.has(each.name)) continue;
      t.is(each.image, `${(values["image"] as Values)["repository"]}:${chart.metadata.appVersion}`, "one image for every role");
      t.true(each.args?.[0] === each.name || (each.name === "seed" && each.args?.[0] === "seed"), `${each.name} runs bin/iir.js ${each.name}`);
      if (each.name === "seed") continue;
      t.true((spec.terminationGracePeriodSeconds ?? 30) > grace + preStop, `${workload.metadata.name}: the pod outlives IIR_SHUTDOWN_GRACE`);
      t.deepEqual((each["lifecycle"] as { preStop?: unknown } | undefined)?.preStop, { sleep: { seconds: preStop } }, `${each.name} sleeps before SIGTERM`);
      t.truthy(each["readinessProbe"] && each["livenessProbe"], `${each.name} is probed`);
      for (const variable of each.env ?? []) {
        if (variable.name === "POD_IP") continue;
        t.true(configVariables.has(variable.name), `${variable.name} is a variable IIR reads`);
      }
    }
  }

  const config = envConfig(rendered);
  t.is(config["IIR_SHUTDOWN_GRACE"], String(grace));
  for (const name of Object.keys(config)) {
    t.true(configVariables.has(name), `ConfigMap key ${name} is a variable IIR reads (services/common/config.ts)`);
  }
  const secretValues = collectSecretValues(values);
  for (const configMap of rendered.objects.filter((object) => object.kind === "ConfigMap")) {
    const data = (configMap["data"] ?? {}) as Record<string, string>;
    for (const [key, text] of Object.entries(data)) {
      t.notRegex(key, /^EXTERNAL_|TOKEN|PASSWORD|^REDIS_URL$|^DATABASE_URL$/, `${configMap.metadata.name} holds no secret variable`);
      for (const secret of secretValues) t.false(text.includes(secret), `${configMap.metadata.name}.${key} holds no secret value`);
    }
  }

  const router = find(rendered, "Deployment", "iir-router");
  const routerContainer = container(router, "router");
  const routerService = find(rendered, "Service", "iir-router");
  const routerPort = (values["router"] as Values)["port"] as number;
  const grpcPort = (routerService["spec"] as { ports: { name: string; port: number; appProtocol?: string }[] }).ports.find((port) => port.name === "grpc");
  t.is(grpcPort?.port, routerPort);
  t.is(grpcPort?.appProtocol, "kubernetes.io/h2c", "the router's port is declared h2c");
  t.deepEqual((routerContainer["readinessProbe"] as { grpc?: unknown }).grpc, { port: routerPort, service: "" }, "grpc.health.v1 readiness");
  t.deepEqual((routerContainer["livenessProbe"] as { grpc?: unknown }).grpc, { port: routerPort, service: "" });
  t.is(config["IIR_ROUTER_URL"], `http://iir-router.inference.svc:${String(routerPort)}`, "the facade reaches the router Service");
  t.is(config["IIR_ROUTER_HOST"], "0.0.0.0", "the router listens beyond loopback");

  const facade = container(find(rendered, "Deployment", "iir-facade"), "facade");
  t.is((facade["readinessProbe"] as { httpGet: { path: string } }).httpGet.path, "/ready");
  t.is((facade["livenessProbe"] as { httpGet: { path: string } }).httpGet.path, "/health");
  t.notRegex(JSON.stringify(facade.env ?? []), /IIR_ADMIN_TOKEN|EXTERNAL_|DATABASE_URL/, "the facade never holds the router's secrets");

  for (const role of ["facade", "router"] as const) {
    const autoscaled = ((values[role] as Values)["autoscaling"] as Values)["enabled"] === true;
    const deployment = find(rendered, "Deployment", `iir-${role}`);
    t.is(rendered.objects.some((object) => object.kind === "HorizontalPodAutoscaler" && object.metadata.name === `iir-${role}`), autoscaled, `${role} HPA`);
    t.is((deployment["spec"] as { replicas?: number }).replicas, autoscaled ? undefined : ((values[role] as Values)["replicas"] as number));
  }
  t.regex(rendered.notes, /port-forward svc\/iir-facade/);
}

/** Secret strings given inline in values, which must reach Secrets only. */
function collectSecretValues(values: Values): string[] {
  const found: string[] = [];
  const inline = (value: unknown) => {
    if (typeof value === "string" && value !== "") found.push(value);
  };
  for (const token of ["adminToken", "agentToken"]) inline((values[token] as Values)["value"]);
  inline((values["redis"] as Values)["url"]);
  inline((values["postgres"] as Values)["url"]);
  inline((values["postgres"] as Values)["password"]);
  for (const key of Object.values((values["providers"] as Values)["keys"] as Values)) inline(key);
  return found;
}

for (const { file, values } of valueSets) {
  test(`${file} renders valid Kubernetes objects that probe, drain and keep secrets out of ConfigMaps`, (t) => {
    assertCommonFacts(t, render(values), values);
  });
}

// ---- what each example is for ------------------------------------------------------------------

function example(file: string): Values {
  const found = examples.find((candidate) => candidate.file === file);
  if (found === undefined) throw new Error(`no example ${file}`);
  return found.values;
}

test("values-llm-d.yaml points LLMD_ENDPOINT at llm-d and seeds llm-d/<name> models `iir seed` accepts", (t) => {
  const values = example("values-llm-d.yaml");
  const rendered = render(values);
  t.is(envConfig(rendered)["LLMD_ENDPOINT"], (values["llmd"] as Values)["baseUrl"] as string);
  t.regex(envConfig(rendered)["LLMD_ENDPOINT"] ?? "", /^http:\/\/llm-d-epp\.llm-d\.svc\.cluster\.local:8081\/v1$/);
  const seedFile = (find(rendered, "ConfigMap", "iir-seed")["data"] as Record<string, string>)["models.yaml"] ?? "";
  const models = parseSeedDocument(parse(seedFile), "models.yaml");
  t.like(models.find((model) => model.name === "llm-d/llama-8b"), { provider: "llm-d", upstreamModel: "meta-llama/Llama-3.1-8B-Instruct", baseUrl: "" });
  t.deepEqual(models.find((model) => model.name === "chat")?.fallbacks, ["openai/gpt-4o-mini"]);
  const router = find(rendered, "Deployment", "iir-router");
  const seed = podSpec(router).initContainers?.find((each) => each.name === "seed");
  t.deepEqual(seed?.args, ["seed", "/etc/iir/seed/models.yaml"]);
  t.deepEqual(envNamed(seed as Container, "DATABASE_URL")?.valueFrom?.secretKeyRef, { name: "iir-datastores", key: "database-url" }, "the seed writes the shared registry");
  t.truthy(find(rendered, "ServiceMonitor", "iir"));
});

test("values-gpu-agents.yaml runs a DaemonSet of GPU agents on GPU nodes", (t) => {
  const rendered = render(example("values-gpu-agents.yaml"));
  const agents = find(rendered, "DaemonSet", "iir-agent");
  const agent = container(agents, "agent");
  t.is((agent["resources"] as { limits: Record<string, unknown> }).limits["nvidia.com/gpu"], 1);
  t.deepEqual(podSpec(agents)["nodeSelector"], { "nvidia.com/gpu.present": "true" });
  t.like((podSpec(agents)["tolerations"] as unknown[])[0], { key: "nvidia.com/gpu", effect: "NoSchedule" });
  t.like((podSpec(agents)["volumes"] as { name: string }[]).find((volume) => volume.name === "models"), { hostPath: { path: "/var/lib/models" } });
  const config = envConfig(rendered);
  t.is(config["IIR_AGENT_GPU"], "true");
  t.is(config["IIR_AGENT_HOST"], "0.0.0.0");
  t.is(config["ROUTER_URL"], config["IIR_ROUTER_URL"], "agents register with the router Service");
  t.is(envNamed(agent, "IIR_AGENT_ADVERTISE_URL")?.value, "http://$(POD_IP):50061", "the router calls each agent at its pod");
  t.deepEqual(envNamed(agent, "IIR_AGENT_TOKEN")?.valueFrom?.secretKeyRef, { name: "iir-tokens", key: "agent-token" });
  t.deepEqual(envNamed(container(find(rendered, "Deployment", "iir-router"), "router"), "IIR_AGENT_TOKEN")?.valueFrom?.secretKeyRef, { name: "iir-tokens", key: "agent-token" });
  t.is((find(rendered, "Service", "iir-agent")["spec"] as { clusterIP: string }).clusterIP, "None");
});

test("values-external-datastores.yaml reads REDIS_URL and DATABASE_URL from the user's Secret and autoscales", (t) => {
  const rendered = render(example("values-external-datastores.yaml"));
  const router = container(find(rendered, "Deployment", "iir-router"), "router");
  t.deepEqual(envNamed(router, "REDIS_URL")?.valueFrom?.secretKeyRef, { name: "iir-datastores", key: "REDIS_URL" });
  t.deepEqual(envNamed(router, "DATABASE_URL")?.valueFrom?.secretKeyRef, { name: "iir-datastores", key: "DATABASE_URL" });
  t.false(rendered.objects.some((object) => object.kind === "Secret"), "nothing inline, so the chart makes no Secret");
  t.true((router.envFrom ?? []).some((source) => JSON.stringify(source) === JSON.stringify({ secretRef: { name: "provider-keys" } })));
  t.is(envConfig(rendered)["OPENROUTER_BASE_URL"], "https://openrouter.ai/api/v1");
});

test("values-trial.yaml bundles redis:7-alpine and postgres:16-alpine and wires their URLs through the chart's Secret", (t) => {
  const rendered = render(example("values-trial.yaml"));
  t.is(container(find(rendered, "Deployment", "iir-redis"), "redis").image, "redis:7-alpine");
  t.is(container(find(rendered, "StatefulSet", "iir-postgres"), "postgres").image, "postgres:16-alpine");
  const secret = find(rendered, "Secret", "iir-secrets")["stringData"] as Record<string, string>;
  t.is(secret["REDIS_URL"], "redis://iir-redis.inference.svc:6379");
  t.is(secret["DATABASE_URL"], "postgres://iir:change-me-trial@iir-postgres.inference.svc:5432/iir");
  const router = container(find(rendered, "Deployment", "iir-router"), "router");
  t.deepEqual(envNamed(router, "DATABASE_URL")?.valueFrom?.secretKeyRef, { name: "iir-secrets", key: "DATABASE_URL" });
  t.truthy(find(rendered, "Deployment", "iir-agent"));
});

test("with TLS the mesh speaks https, mounts the certificates and probes TCP (kubelet's gRPC probes are plaintext)", (t) => {
  const rendered = render(withValues({ tls: { existingSecret: "iir-mesh-tls", mutual: true }, agent: { enabled: true } }));
  const config = envConfig(rendered);
  t.is(config["IIR_ROUTER_URL"], "https://iir-router.inference.svc:50051");
  t.deepEqual([config["IIR_TLS_CERT"], config["IIR_TLS_KEY"], config["IIR_TLS_CA"]], ["/etc/iir/tls/tls.crt", "/etc/iir/tls/tls.key", "/etc/iir/tls/ca.crt"]);
  const router = find(rendered, "Deployment", "iir-router");
  t.deepEqual((container(router, "router")["readinessProbe"] as { tcpSocket?: unknown }).tcpSocket, { port: "grpc" });
  t.like((podSpec(router)["volumes"] as { name: string }[]).find((volume) => volume.name === "tls"), { secret: { secretName: "iir-mesh-tls" } });
  t.is(envNamed(container(find(rendered, "Deployment", "iir-agent"), "agent"), "IIR_AGENT_ADVERTISE_URL")?.value, "https://$(POD_IP):50061");
});

test("inline secrets go to the chart's Secrets, never to the ConfigMap", (t) => {
  const values = withValues({ adminToken: { value: "admin-secret-value" }, providers: { keys: { EXTERNAL_OPENAI_KEY: "sk-test-not-real" } }, redis: { url: "redis://:pw@redis:6379" } });
  const rendered = render(values);
  assertCommonFacts(t, rendered, values);
  t.deepEqual(find(rendered, "Secret", "iir-provider-keys")["stringData"], { EXTERNAL_OPENAI_KEY: "sk-test-not-real" });
  t.like(find(rendered, "Secret", "iir-secrets")["stringData"], { IIR_ADMIN_TOKEN: "admin-secret-value", REDIS_URL: "redis://:pw@redis:6379" });
});

// ---- observability -----------------------------------------------------------------------------

/** Prometheus names of the instruments IIR creates: dots become underscores. */
function exposedMetricNames(): Set<string> {
  const sources = ["facade/telemetry/facade-metrics.ts", "services/router/telemetry/router-metrics.ts"].map((file) => fs.readFileSync(path.join(root, file), "utf8"));
  const names = new Set<string>();
  for (const source of sources) {
    for (const match of source.matchAll(/\.(histogram|counter|createCounter|createObservableGauge|createHistogram)\("([a-z_.]+)"/g)) {
      const name = (match[2] as string).replace(/\./g, "_");
      names.add(name);
      if (/histogram/i.test(match[1] as string)) for (const suffix of ["_bucket", "_sum", "_count"]) names.add(name + suffix);
    }
  }
  return names;
}

test("the Grafana dashboard charts the metrics IIR exposes, in a ConfigMap Grafana's sidecar loads", (t) => {
  const rendered = render(withValues({ metrics: { dashboard: { enabled: true } } }));
  const configMap = find(rendered, "ConfigMap", "iir-dashboard");
  t.is(configMap.metadata.labels?.["grafana_dashboard"], "1");
  const dashboard = JSON.parse((configMap["data"] as Record<string, string>)["iir.json"] ?? "") as { panels: { title: string; targets: { expr: string }[] }[] };
  const exposed = exposedMetricNames();
  t.true(exposed.has("iir_requests_total") && exposed.has("gen_ai_server_time_to_first_token_bucket"), "instrument names were found in the sources");
  const used = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      for (const match of target.expr.matchAll(/([a-z_:][a-z0-9_:]*)\{/g)) used.add(match[1] as string);
    }
  }
  for (const name of used) t.true(exposed.has(name), `${name} is exposed by IIR`);
  for (const needed of ["iir_requests_total", "gen_ai_server_request_duration_bucket", "gen_ai_server_time_to_first_token_bucket", "gen_ai_client_token_usage_sum", "iir_cache_requests_total", "iir_agent_queue_length", "iir_backend_errors_total"]) {
    t.true(used.has(needed), `a panel shows ${needed}`);
  }
});

test("the ServiceMonitor scrapes the facade's and the router's /metrics ports", (t) => {
  const rendered = render(withValues({ metrics: { serviceMonitor: { enabled: true } } }));
  const monitor = find(rendered, "ServiceMonitor", "iir")["spec"] as { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
  for (const [service, port] of [["iir-facade", "http"], ["iir-router", "metrics"]] as const) {
    const spec = find(rendered, "Service", service);
    t.like(spec.metadata.labels, monitor.selector.matchLabels, `${service} is selected`);
    t.true((spec["spec"] as { ports: { name: string }[] }).ports.some((each) => each.name === port));
    t.true(monitor.endpoints.some((endpoint) => endpoint.port === port));
  }
  t.is(envConfig(rendered)["IIR_ROUTER_METRICS_PORT"], "9464");
});

test("the facade's probe paths are routes the facade serves", (t) => {
  const app = fs.readFileSync(path.join(root, "facade", "app.ts"), "utf8");
  t.regex(app, /app\.get\("\/ready"/);
  t.regex(app, /app\.get\("\/health"/);
});
