//! Are all MicroShift pods up? Judges the JSON of
//! `oc get pods -A -o json` (the documented `watch oc get pods -A`), and says why not.

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::device::EMBEDDED_LIST;

/// One pod's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub phase: String,
    pub ready: bool,
    /// Why it is not ready (empty when ready).
    pub reason: String,
    pub restarts: u64,
    /// The images its containers fail to pull (ErrImagePull, ImagePullBackOff, ...).
    pub failed_pulls: Vec<String>,
}

/// The verdict over all pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub pods: Vec<Pod>,
    pub hints: Vec<String>,
}

impl Verdict {
    pub fn ready(&self) -> usize {
        self.pods.iter().filter(|p| p.ready).count()
    }
    /// Ready when there are pods and every one is ready.
    pub fn all_ready(&self) -> bool {
        !self.pods.is_empty() && self.pods.iter().all(|p| p.ready)
    }
    pub fn progress(&self) -> String {
        format!("{}/{} pods ready", self.ready(), self.pods.len())
    }
    pub fn to_json(&self) -> Value {
        json!({
            "all_ready": self.all_ready(),
            "ready": self.ready(),
            "total": self.pods.len(),
            "pods": self.pods.iter().map(|p| json!({
                "namespace": p.namespace,
                "name": p.name,
                "phase": p.phase,
                "ready": p.ready,
                "reason": p.reason,
                "restarts": p.restarts,
            })).collect::<Vec<_>>(),
            "hints": self.hints,
        })
    }
    /// Lines for a person: each pod that is not ready with its reason, then the hints.
    pub fn diagnosis(&self) -> String {
        let mut lines = vec![format!("{}; not ready:", self.progress())];
        if self.pods.is_empty() {
            lines = vec!["no pods yet".to_string()];
        }
        for p in self.pods.iter().filter(|p| !p.ready) {
            let restarts = if p.restarts > 0 {
                format!(", {} restarts", p.restarts)
            } else {
                String::new()
            };
            lines.push(format!(
                "  {}/{}: {}{restarts}",
                p.namespace, p.name, p.reason
            ));
        }
        for h in &self.hints {
            lines.push(format!("hint: {h}"));
        }
        lines.join("\n")
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The reason a container is not ready, from its state.
fn container_reason(c: &Value) -> Option<String> {
    if c.get("ready").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    let waiting = text(c, "/state/waiting/reason");
    if !waiting.is_empty() {
        return Some(waiting.to_string());
    }
    let terminated = text(c, "/state/terminated/reason");
    if !terminated.is_empty() {
        return Some(terminated.to_string());
    }
    if c.pointer("/state/running").is_some() {
        return Some(format!(
            "container {} running but not ready",
            text(c, "/name")
        ));
    }
    Some(format!("container {} not ready", text(c, "/name")))
}

pub fn pod(item: &Value) -> Pod {
    let namespace = text(item, "/metadata/namespace").to_string();
    let name = text(item, "/metadata/name").to_string();
    let phase = text(item, "/status/phase").to_string();
    let containers: &[Value] = item
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let inits: &[Value] = item
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let restarts = containers
        .iter()
        .chain(inits)
        .filter_map(|c| c.get("restartCount").and_then(Value::as_u64))
        .fold(0u64, u64::saturating_add);
    let mut failed_pulls: Vec<String> = Vec::new();
    for c in containers.iter().chain(inits) {
        let waiting = text(c, "/state/waiting/reason");
        let image = text(c, "/image");
        if PULL_REASONS.contains(&waiting)
            && !image.is_empty()
            && !failed_pulls.iter().any(|i| i == image)
        {
            failed_pulls.push(image.to_string());
        }
    }
    let make = |ready: bool, reason: String| Pod {
        namespace: namespace.clone(),
        name: name.clone(),
        phase: phase.clone(),
        ready,
        reason,
        restarts,
        failed_pulls: failed_pulls.clone(),
    };
    let not_ready = |reason: String| make(false, reason);
    if item.pointer("/metadata/deletionTimestamp").is_some() {
        return not_ready("Terminating".to_string());
    }
    match phase.as_str() {
        // a completed job
        "Succeeded" => make(true, String::new()),
        "Running" | "Pending" => {
            // init containers first: a pod waits for them
            for c in inits {
                let done = text(c, "/state/terminated/reason") == "Completed";
                if !done {
                    if let Some(r) = container_reason(c) {
                        let r = if r.starts_with("container ") {
                            "initializing".to_string()
                        } else {
                            r
                        };
                        return not_ready(format!("Init:{r}"));
                    }
                }
            }
            if let Some(reason) = containers.iter().find_map(container_reason) {
                return not_ready(reason);
            }
            if containers.is_empty() {
                let unscheduled = item
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|c| text(c, "/type") == "PodScheduled" && text(c, "/status") == "False");
                return not_ready(match unscheduled {
                    Some(c) => format!("{}: {}", text(c, "/reason"), text(c, "/message")),
                    None => phase.clone(),
                });
            }
            if phase == "Pending" {
                return not_ready("Pending".to_string());
            }
            make(true, String::new())
        }
        "Failed" => {
            let r = text(item, "/status/reason");
            not_ready(if r.is_empty() {
                "Failed".to_string()
            } else {
                format!("Failed: {r}")
            })
        }
        "" => not_ready("no phase reported".to_string()),
        other => not_ready(other.to_string()),
    }
}

/// Hints for the causes seen in real life (docs/src/procedure.md, "Where it goes wrong"): a pull secret
/// missing or unreadable, no volume group for the storage driver, no openvswitch module on
/// the host, a VPN route over the pod network.
fn hints(pods: &[Pod], embedded: Option<&[String]>) -> Vec<String> {
    let bad: Vec<&Pod> = pods.iter().filter(|p| !p.ready).collect();
    let mut hints = Vec::new();
    if pods.is_empty() {
        hints.push("MicroShift has not started any pod yet: see `journalctl -u microshift` in the host or VM".to_string());
    }
    if bad
        .iter()
        .any(|p| PULL_REASONS.iter().any(|r| p.reason.contains(r)))
    {
        hints.push(format!(
            "image pulls fail: the pull secret must be at {}, mode 600, with registry.redhat.io credentials (`cargo xtask doctor --for run`)",
            crate::device::PULL_SECRET_TARGET
        ));
    }
    // an image built with --embed: which failing images it does not hold, and which it
    // holds but did not copy into the container storage
    if let Some(list) = embedded {
        let mut failed: Vec<&str> = Vec::new();
        for image in bad.iter().flat_map(|p| p.failed_pulls.iter()) {
            if !failed.contains(&image.as_str()) {
                failed.push(image);
            }
        }
        let (held, missing): (Vec<&str>, Vec<&str>) = failed
            .into_iter()
            .partition(|i| list.iter().any(|l| l == i));
        if !missing.is_empty() {
            hints.push(format!(
                "not embedded in this image (it embeds {} images, {EMBEDDED_LIST}): {}; add them to embed.extra_images and build with --embed again, or let the device reach their registry",
                list.len(),
                missing.join(", ")
            ));
        }
        if !held.is_empty() {
            hints.push(format!(
                "embedded but not in the container storage: {}; `journalctl -u microshift` shows what microshift-copy-images said before MicroShift started",
                held.join(", ")
            ));
        }
    }
    let storage = |p: &&&Pod| {
        p.namespace == "openshift-storage" || p.name.contains("topolvm") || p.name.contains("lvms")
    };
    if bad.iter().filter(storage).any(|p| {
        p.reason.contains("CrashLoopBackOff") || p.reason.contains("Error") || p.phase == "Failed"
    }) {
        hints.push(
            "storage (topolvm) pods fail: the CSI driver needs a volume group named `rhel` (lvm.volume_group) with free space; `cargo xtask run --lvm-loop 1G` makes one on a loop device"
                .to_string(),
        );
    }
    let ovn =
        |p: &&&Pod| p.namespace == "openshift-ovn-kubernetes" || p.name.starts_with("ovnkube");
    if bad.iter().filter(ovn).any(|p| {
        p.reason.contains("CrashLoopBackOff") || p.reason.contains("Error") || p.restarts > 0
    }) {
        hints.push(
            "ovnkube pods fail: a bootc container runs the host kernel, so load the openvswitch module on the host before starting it (`sudo modprobe openvswitch`; `cargo xtask run` does)"
                .to_string(),
        );
    }
    if bad.iter().any(|p| {
        p.reason.starts_with("Unschedulable")
            || p.reason == "ContainerCreating"
            || p.reason == "Pending"
    }) {
        hints.push(
            "pods stay Pending or ContainerCreating: check that no host route (a VPN) clashes with the pod network 10.42.0.0/16".to_string(),
        );
    }
    hints
}

/// The reasons a container waits for an image it cannot pull.
const PULL_REASONS: [&str; 4] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// The references of an embedded-image list file.
pub fn embedded_list(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split(',').next())
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// Judge a pod list document.
pub fn judge(json_text: &str) -> anyhow::Result<Verdict> {
    judge_with(json_text, None)
}

/// [`judge`], knowing the images the running image embeds (built with `--embed`).
pub fn judge_with(json_text: &str, embedded: Option<&[String]>) -> anyhow::Result<Verdict> {
    let doc: Value = serde_json::from_str(json_text)
        .context("the pod list is not valid JSON (expected `oc get pods -A -o json`)")?;
    let Some(items) = doc.get("items").and_then(Value::as_array) else {
        bail!("the pod list has no \"items\" array (expected `oc get pods -A -o json`)");
    };
    let mut pods: Vec<Pod> = items.iter().map(pod).collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let hints = hints(&pods, embedded);
    Ok(Verdict { pods, hints })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/../tests/fixtures/pods/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn ready_list_with_completed_job_and_init_containers() {
        let v = judge(&fixture("ready")).unwrap();
        assert!(v.all_ready(), "{}", v.diagnosis());
        assert_eq!(v.ready(), 10);
        assert!(v.hints.is_empty());
    }

    #[test]
    fn starting_list() {
        let v = judge(&fixture("starting")).unwrap();
        assert!(!v.all_ready());
        assert_eq!(v.progress(), "4/9 pods ready");
        let reason = |n: &str| {
            v.pods
                .iter()
                .find(|p| p.name.starts_with(n))
                .unwrap()
                .reason
                .clone()
        };
        assert_eq!(reason("dns-default"), "ContainerCreating");
        assert_eq!(
            reason("router-default"),
            "container router running but not ready"
        );
        assert!(
            reason("service-ca").starts_with("Unschedulable: 0/1 nodes"),
            "{}",
            reason("service-ca")
        );
        assert_eq!(reason("topolvm-controller"), "Init:initializing");
        assert_eq!(
            reason("topolvm-node"),
            "container liveness-probe running but not ready"
        );
    }

    #[test]
    fn stuck_list_diagnosis() {
        let v = judge(&fixture("stuck")).unwrap();
        assert!(!v.all_ready());
        let d = v.diagnosis();
        for needle in [
            "openshift-ingress/router-default-7cd8c9b8f5-6v9sz: ImagePullBackOff",
            "openshift-ovn-kubernetes/ovnkube-master-hr9ld: CrashLoopBackOff, 14 restarts",
            "openshift-service-ca/service-ca-5d96446959-qvq9n: ErrImagePull",
            "openshift-storage/topolvm-node-9xq2b: Failed: Evicted",
            "openshift-dns/node-resolver-old-zz9: Terminating",
            "hint: image pulls fail",
            "hint: storage (topolvm) pods fail",
            "hint: ovnkube pods fail",
        ] {
            assert!(d.contains(needle), "missing {needle:?} in\n{d}");
        }
    }

    #[test]
    fn huge_restart_counts_do_not_overflow() {
        let doc = format!(
            r#"{{"items":[{{"metadata":{{"namespace":"n","name":"p"}},"status":{{"phase":"Running","containerStatuses":[{{"name":"a","ready":false,"restartCount":{max}}},{{"name":"b","ready":false,"restartCount":{max}}}]}}}}]}}"#,
            max = u64::MAX
        );
        let v = judge(&doc).unwrap();
        assert_eq!(v.pods[0].restarts, u64::MAX);
    }

    #[test]
    fn empty_and_malformed() {
        let v = judge(&fixture("empty")).unwrap();
        assert!(!v.all_ready());
        assert!(v.diagnosis().contains("no pods yet"));
        assert!(judge("{\"items\": [").is_err());
        assert!(judge("{\"kind\": \"List\"}").is_err());
        assert!(judge("").is_err());
        // a pod without status is not ready, and does not panic
        let v = judge(r#"{"items":[{"metadata":{"name":"x","namespace":"y"}}]}"#).unwrap();
        assert_eq!(v.pods[0].reason, "no phase reported");
    }

    #[test]
    fn embedded_hints_name_what_the_image_does_not_hold() {
        let pod = |name: &str, reason: &str, image: &str| {
            json!({
                "metadata": {"namespace": "ns", "name": name},
                "status": {"phase": "Pending", "containerStatuses": [{
                    "name": "c", "ready": false, "image": image,
                    "state": {"waiting": {"reason": reason}}
                }]}
            })
        };
        let doc = json!({"items": [
            pod("a", "ImagePullBackOff", "q.io/held@sha256:1"),
            pod("b", "ErrImagePull", "q.io/workload:2"),
            pod("c", "ErrImagePull", "q.io/workload:2"),
            pod("d", "CrashLoopBackOff", "q.io/other:3"),
        ]})
        .to_string();
        let list = embedded_list("q.io/held@sha256:1,abc\nq.io/etcd@sha256:2,def\n\n");
        assert_eq!(list, ["q.io/held@sha256:1", "q.io/etcd@sha256:2"]);
        let d = judge_with(&doc, Some(&list)).unwrap().diagnosis();
        assert!(
            d.contains("hint: not embedded in this image (it embeds 2 images, /usr/lib/containers/storage/image-list.txt): q.io/workload:2; add them to embed.extra_images"),
            "{d}"
        );
        assert!(
            d.contains("hint: embedded but not in the container storage: q.io/held@sha256:1;"),
            "{d}"
        );
        assert!(!d.contains("q.io/other:3"), "{d}");
        // without a list (an image built without --embed): only the pull secret hint
        let plain = judge(&doc).unwrap().diagnosis();
        assert!(plain.contains("hint: image pulls fail"), "{plain}");
        assert!(!plain.contains("embedded"), "{plain}");
    }
}
