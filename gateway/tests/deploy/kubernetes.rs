//! `deploy/k8s/`: the kustomization and the manifests it applies.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::dockerfile::Dockerfile;
use crate::{
    check_migration_environment, defaults, deploy_path, gateway_settings, overlay, parse_routes,
    str_at, u64_at, yaml_documents,
};

/// Every manifest in `deploy/k8s/`, with the file it came from.
struct Manifests {
    documents: Vec<(String, Value)>,
}

impl Manifests {
    fn load() -> Self {
        let dir = deploy_path("k8s");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
            })
            .collect();
        files.sort();
        let documents = files
            .iter()
            .flat_map(|path| {
                let name = file_name(path);
                yaml_documents(path)
                    .into_iter()
                    .map(move |doc| (name.clone(), doc))
            })
            .collect();
        Self { documents }
    }

    /// The one document of `kind`.
    fn one(&self, kind: &str) -> &Value {
        let found: Vec<&Value> = self
            .documents
            .iter()
            .filter(|(_, doc)| doc["kind"] == kind)
            .map(|(_, doc)| doc)
            .collect();
        assert_eq!(found.len(), 1, "deploy/k8s/ should hold exactly one {kind}");
        found[0]
    }

    /// The Secret's example values (`secret.example.yaml`).
    fn secret_example(&self) -> &Value {
        self.one("Secret")
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 file name")
        .to_owned()
}

/// The one container of a workload's pod template.
fn container(workload: &Value) -> &Value {
    let containers = workload
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .expect("a pod template with containers");
    assert_eq!(containers.len(), 1, "one container per pod");
    &containers[0]
}

/// What an operator puts where the Secret example says `CHANGE-ME` (the gateway refuses the placeholder).
const FILLED_PLACEHOLDER: &str = "4f1c2e9a7b3d5c8e0a6f2b4d9c1e7a3b";

/// A container's environment; values from the Secret take the example's
/// values, its `CHANGE-ME` placeholders filled as an operator would.
fn environment(container: &Value, secret: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|var| {
            let name = str_at(var, "/name", "env").to_owned();
            let value = if let Some(value) = var.get("value") {
                value
                    .as_str()
                    .unwrap_or_else(|| {
                        panic!("{name}: Kubernetes needs a string value (quote {value})")
                    })
                    .to_owned()
            } else if let Some(reference) = var.pointer("/valueFrom/secretKeyRef") {
                assert_eq!(
                    reference["name"], secret["metadata"]["name"],
                    "{name}: a Secret other than the one documented"
                );
                let key = str_at(reference, "/key", &name);
                str_at(secret, &format!("/stringData/{key}"), "secret.example.yaml")
                    .replace("CHANGE-ME", FILLED_PLACEHOLDER)
            } else {
                panic!("{name}: only value and valueFrom.secretKeyRef are checked: {var}")
            };
            (name, value)
        })
        .collect()
}

/// The port number a probe or a Service targets (a number, or a container port's name).
fn resolve_port(container: &Value, port: &Value) -> u64 {
    if let Some(number) = port.as_u64() {
        return number;
    }
    let name = port.as_str().unwrap_or_else(|| panic!("port {port}"));
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .map(|p| u64_at(p, "/containerPort", name))
        .unwrap_or_else(|| panic!("no container port is named {name}"))
}

/// The container port named `name`.
fn container_port(container: &Value, name: &str) -> u64 {
    resolve_port(container, &Value::from(name))
}

/// Whether every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector.as_object().is_some_and(|selector| {
        !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    })
}

/// The Deployment's environment as the gateway sees it: the image's, then the manifest's.
fn gateway_environment(manifests: &Manifests) -> Vec<(String, String)> {
    let deployment = manifests.one("Deployment");
    overlay(
        &Dockerfile::load().env(),
        &environment(container(deployment), manifests.secret_example()),
    )
}

#[test]
fn kustomization_applies_every_manifest_but_the_secret_example() {
    let kustomization = yaml_documents(&deploy_path("k8s/kustomization.yaml"));
    let resources: BTreeSet<&str> = kustomization[0]["resources"]
        .as_array()
        .expect("kustomization.yaml lists resources")
        .iter()
        .map(|r| r.as_str().expect("a file name"))
        .collect();
    let manifests = Manifests::load();
    let files: BTreeSet<&str> = manifests
        .documents
        .iter()
        .map(|(file, _)| file.as_str())
        .filter(|file| *file != "kustomization.yaml" && *file != "secret.example.yaml")
        .collect();
    assert_eq!(
        resources, files,
        "kustomization.yaml must list every manifest"
    );
    assert!(
        !resources.contains("secret.example.yaml"),
        "the example Secret is never applied"
    );
    for (file, doc) in &manifests.documents {
        assert!(
            doc.pointer("/metadata/namespace").is_none()
                && kustomization[0].get("namespace").is_none(),
            "{file}: the manifests are namespace-agnostic"
        );
    }
    let image = str_at(
        container(manifests.one("Deployment")),
        "/image",
        "Deployment",
    );
    let name = image.rsplit_once(':').map_or(image, |(name, _)| name);
    assert!(
        kustomization[0]["images"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["name"] == name),
        "kustomization.yaml's images: must name {name}"
    );
}

#[test]
fn deployment_ports_and_probes_match_the_gateway_defaults() {
    let manifests = Manifests::load();
    let deployment = manifests.one("Deployment");
    let gateway = container(deployment);
    let (listen, admin_listen) = defaults();
    assert_eq!(container_port(gateway, "http"), u64::from(listen.port()));
    assert_eq!(
        container_port(gateway, "admin"),
        u64::from(admin_listen.port())
    );

    for (probe, path) in [
        ("readinessProbe", "/-/readyz"),
        ("livenessProbe", "/-/healthz"),
        ("startupProbe", "/-/healthz"),
    ] {
        let Some(check) = gateway.get(probe) else {
            assert_ne!(
                probe, "readinessProbe",
                "the Deployment needs a readinessProbe"
            );
            assert_ne!(
                probe, "livenessProbe",
                "the Deployment needs a livenessProbe"
            );
            continue;
        };
        assert_eq!(str_at(check, "/httpGet/path", probe), path, "{probe}");
        assert_eq!(
            resolve_port(gateway, &check["httpGet"]["port"]),
            u64::from(admin_listen.port()),
            "{probe} must hit the admin API"
        );
    }
}

#[test]
fn deployment_environment_is_read_by_the_gateway() {
    let manifests = Manifests::load();
    let settings = gateway_settings(
        "deploy/k8s/deployment.yaml",
        &gateway_environment(&manifests),
    );
    let gateway = container(manifests.one("Deployment"));
    assert_eq!(
        u64::from(settings.listen.port()),
        container_port(gateway, "http")
    );
    assert_eq!(
        u64::from(settings.admin_listen.port()),
        container_port(gateway, "admin")
    );
    assert!(
        settings.admin_listen.ip().is_unspecified(),
        "the admin API must listen beyond loopback for the kubelet's probes: {}",
        settings.admin_listen
    );
    assert!(
        !settings.database.run_migrations,
        "the migration Job migrates: replicas must not (GATEWAY_DATABASE__RUN_MIGRATIONS=false)"
    );
    assert!(
        settings.database.url.starts_with("postgres://"),
        "{}",
        settings.database.redacted_url()
    );
}

#[test]
fn deployment_mounts_the_route_configmap_as_a_directory() {
    let manifests = Manifests::load();
    let settings = gateway_settings(
        "deploy/k8s/deployment.yaml",
        &gateway_environment(&manifests),
    );
    let deployment = manifests.one("Deployment");
    let config_map = manifests.one("ConfigMap");
    let file = settings
        .routes
        .file_name()
        .and_then(|f| f.to_str())
        .expect("GATEWAY_ROUTES names a file");
    let dir = settings
        .routes
        .parent()
        .and_then(|d| d.to_str())
        .expect("GATEWAY_ROUTES is absolute");

    let volume = deployment
        .pointer("/spec/template/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.pointer("/configMap/name") == config_map.pointer("/metadata/name"))
        .expect("a volume holds the route ConfigMap");
    assert!(
        volume.pointer("/configMap/items").is_none(),
        "keep the ConfigMap's keys as file names (no items)"
    );
    let mounts: Vec<&Value> = container(deployment)["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["name"] == volume["name"])
        .collect();
    assert_eq!(mounts.len(), 1, "the route ConfigMap is mounted once");
    assert!(
        mounts[0].get("subPath").is_none() && mounts[0].get("subPathExpr").is_none(),
        "a subPath mount never sees ConfigMap updates: mount the directory"
    );
    assert_eq!(
        str_at(mounts[0], "/mountPath", "route mount"),
        dir,
        "mounted where GATEWAY_ROUTES points"
    );

    let text = str_at(
        config_map,
        &format!("/data/{file}"),
        "ConfigMap gateway-routes",
    );
    let table = parse_routes(text, "deploy/k8s/configmap.yaml");
    assert_eq!(
        table.legacy().url().host(),
        Some("legacy"),
        "legacy is reached through the `legacy` Service"
    );
}

#[test]
fn deployment_drains_before_it_is_killed() {
    let manifests = Manifests::load();
    let settings = gateway_settings(
        "deploy/k8s/deployment.yaml",
        &gateway_environment(&manifests),
    );
    let deployment = manifests.one("Deployment");
    assert!(u64_at(deployment, "/spec/replicas", "Deployment") >= 2);
    assert_eq!(
        str_at(deployment, "/spec/strategy/type", "Deployment"),
        "RollingUpdate"
    );
    assert_eq!(
        deployment.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        Some(&Value::from(0))
    );

    let pre_stop = container(deployment)
        .pointer("/lifecycle/preStop")
        .expect("a preStop hook lets endpoints go before SIGTERM");
    let sleep = match (
        pre_stop.pointer("/exec/command"),
        pre_stop.pointer("/sleep/seconds"),
    ) {
        (Some(command), _) => command
            .as_array()
            .and_then(|c| match c.as_slice() {
                [program, seconds] if program == "sleep" => seconds.as_str()?.parse::<u64>().ok(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("preStop: expected [\"sleep\", \"N\"], got {command}")),
        (None, Some(seconds)) => seconds.as_u64().expect("sleep.seconds"),
        (None, None) => panic!("preStop must sleep: {pre_stop}"),
    };
    assert!(
        (1..=30).contains(&sleep),
        "preStop sleeps a few seconds, not {sleep}"
    );
    let grace = u64_at(
        deployment,
        "/spec/template/spec/terminationGracePeriodSeconds",
        "Deployment",
    );
    assert!(
        grace > sleep + settings.server.shutdown_grace_secs,
        "terminationGracePeriodSeconds ({grace}) must exceed preStop ({sleep}) + the drain ({})",
        settings.server.shutdown_grace_secs
    );
}

#[test]
fn deployment_runs_unprivileged_with_a_read_only_root() {
    let manifests = Manifests::load();
    let dockerfile = Dockerfile::load();
    let deployment = manifests.one("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let gateway = container(deployment);
    for context in [&pod["securityContext"], &gateway["securityContext"]] {
        if context.get("runAsUser").is_some() {
            assert_eq!(
                u64_at(context, "/runAsUser", "securityContext"),
                dockerfile.uid()
            );
        }
    }
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(gateway["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        gateway["securityContext"]["allowPrivilegeEscalation"],
        false
    );

    let workdir = dockerfile.workdir();
    let mount = gateway["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"] == workdir.as_str())
        .unwrap_or_else(|| {
            panic!("the image's working directory {workdir} needs a writable volume")
        });
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
        .expect("the mount's volume");
    assert!(volume.get("emptyDir").is_some(), "{workdir}: an emptyDir");

    for field in ["/requests/cpu", "/requests/memory", "/limits/memory"] {
        assert!(
            gateway["resources"].pointer(field).is_some(),
            "the gateway container needs resources{}",
            field.replace('/', ".")
        );
    }
}

#[test]
fn service_exposes_the_client_port_only() {
    let manifests = Manifests::load();
    let service = manifests.one("Service");
    let deployment = manifests.one("Deployment");
    let gateway = container(deployment);
    let (listen, _) = defaults();
    let ports = service["spec"]["ports"].as_array().expect("Service ports");
    assert_eq!(
        ports.len(),
        1,
        "only the client port: the admin API stays off the Service"
    );
    assert_eq!(ports[0]["name"], "http");
    assert_eq!(ports[0]["port"], 80);
    assert_eq!(
        resolve_port(gateway, &ports[0]["targetPort"]),
        u64::from(listen.port())
    );

    let selector = &service["spec"]["selector"];
    assert!(selects(
        selector,
        &deployment["spec"]["template"]["metadata"]["labels"]
    ));
    assert!(
        !selects(
            selector,
            &manifests.one("Job")["spec"]["template"]["metadata"]["labels"]
        ),
        "the Service must not send clients to the migration Job's pod"
    );
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], selector);
}

#[test]
fn autoscaler_and_disruption_budget_target_the_deployment() {
    let manifests = Manifests::load();
    let deployment = manifests.one("Deployment");
    let hpa = manifests.one("HorizontalPodAutoscaler");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    let cpu = hpa["spec"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["resource"]["name"] == "cpu")
        .expect("the autoscaler follows CPU");
    assert_eq!(cpu["resource"]["target"]["type"], "Utilization");
    assert_eq!(cpu["resource"]["target"]["averageUtilization"], 70);

    let pdb = manifests.one("PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let min_replicas = u64_at(hpa, "/spec/minReplicas", "HorizontalPodAutoscaler");
    assert!(
        min_replicas > u64_at(pdb, "/spec/minAvailable", "PodDisruptionBudget"),
        "with minReplicas <= minAvailable no node could ever be drained"
    );
}

#[test]
fn migration_job_runs_migration_up_with_the_gateway_image() {
    let manifests = Manifests::load();
    let job = manifests.one("Job");
    let migrate = container(job);
    let mut command: Vec<&Value> = migrate["command"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    command.extend(migrate["args"].as_array().into_iter().flatten());
    assert_eq!(command, [&Value::from("migration"), &Value::from("up")]);
    assert_eq!(
        migrate["image"],
        container(manifests.one("Deployment"))["image"],
        "the Job migrates to the schema of the gateway it precedes"
    );
    check_migration_environment(
        "deploy/k8s/migration-job.yaml",
        &environment(migrate, manifests.secret_example()),
    );
    assert!(job.pointer("/spec/backoffLimit").is_some_and(Value::is_u64));
    assert!(
        job.pointer("/spec/ttlSecondsAfterFinished")
            .is_some_and(Value::is_u64)
    );
    let restart = str_at(job, "/spec/template/spec/restartPolicy", "Job");
    assert!(
        restart == "Never" || restart == "OnFailure",
        "restartPolicy {restart}"
    );
    assert_eq!(
        u64_at(job, "/spec/template/spec/securityContext/runAsUser", "Job"),
        Dockerfile::load().uid()
    );
}

#[test]
fn secret_example_holds_every_key_the_manifests_read() {
    let manifests = Manifests::load();
    let secret = manifests.secret_example();
    assert_eq!(secret["type"], "Opaque");
    let (file, _) = manifests
        .documents
        .iter()
        .find(|(_, doc)| doc["kind"] == "Secret")
        .expect("a Secret");
    assert_eq!(
        file, "secret.example.yaml",
        "Secrets live only in the example"
    );
    for workload in [manifests.one("Deployment"), manifests.one("Job")] {
        // Resolves every secretKeyRef against the example, panicking on a missing key.
        let vars = environment(container(workload), secret);
        assert!(vars.iter().any(|(name, _)| name == "DATABASE_URL"));
    }
    for (key, value) in secret["stringData"].as_object().expect("stringData") {
        assert!(
            value.as_str().is_some_and(|v| v.contains("CHANGE-ME")),
            "secret.example.yaml: {key} must be a CHANGE-ME placeholder"
        );
    }
}

#[test]
fn network_policy_admits_the_admin_port_only_from_the_scrapers() {
    let manifests = Manifests::load();
    let policy = manifests.one("NetworkPolicy");
    let deployment = manifests.one("Deployment");
    let gateway = container(deployment);
    assert!(selects(
        &policy["spec"]["podSelector"]["matchLabels"],
        &deployment["spec"]["template"]["metadata"]["labels"]
    ));
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );
    let rules = policy["spec"]["ingress"].as_array().expect("ingress rules");
    let (listen, admin) = defaults();
    let mut admitted = BTreeSet::new();
    for rule in rules {
        let ports: Vec<u64> = rule["ports"]
            .as_array()
            .expect("every rule names its ports")
            .iter()
            .map(|port| resolve_port(gateway, &port["port"]))
            .collect();
        for port in &ports {
            admitted.insert(*port);
        }
        if ports.contains(&u64::from(admin.port())) {
            let from = rule["from"].as_array().expect("the admin port has sources");
            assert!(!from.is_empty(), "the admin port is open to every pod");
            assert_eq!(ports, vec![u64::from(admin.port())], "{rule}");
        }
    }
    assert_eq!(
        admitted,
        BTreeSet::from([u64::from(listen.port()), u64::from(admin.port())])
    );
}
