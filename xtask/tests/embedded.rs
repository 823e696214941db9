//! The embedding layer's script (`containerfiles/embedded/microshift-copy-images`) under
//! bash, against a stand-in skopeo (a labelled test fixture that copies a "manifest" naming
//! the reference, and fails for the references it is told to): `pull` keeps what a base
//! embeds and copies only what is new, and leaves no blob-info cache behind; `copy` tries
//! every image, reports each failure, and stops MicroShift's start only for a release
//! image. The real skopeo and systemd unit run in `e2e.rs` (embedded_images_work_offline).

mod common;

use camino::Utf8PathBuf;
use common::{repo_root, scratch, Ran};

struct Box {
    dir: Utf8PathBuf,
    store: Utf8PathBuf,
    cache: Utf8PathBuf,
}

/// A store, a release list, and the stand-in skopeo on PATH.
fn setup(name: &str) -> Box {
    let dir = scratch(name);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // TEST FIXTURE: skopeo. `copy SRC dir:D` writes D/manifest.json naming SRC (a real
    // skopeo writes the image there); `copy dir:D containers-storage:REF` records REF as
    // stored; `inspect containers-storage:REF` answers from what was stored. A reference
    // listed in $FAIL fails, as a full disk or an unreachable registry would make it.
    let skopeo = bin.join("skopeo");
    std::fs::write(
        &skopeo,
        r#"#!/bin/bash
echo "skopeo $*" >> "$CALLS"
last=${*: -1}; src=${*: -2:1}
for f in $FAIL; do case "$src $last" in *"$f"*) echo "stand-in: cannot copy $f" >&2; exit 1 ;; esac; done
case "$1" in
  copy)
    mkdir -p "$BLOB_INFO_CACHE"
    case $last in
      dir:*) mkdir -p "${last#dir:}"; printf '%s' "${src#docker://}" > "${last#dir:}/manifest.json" ;;
      containers-storage:*) echo "${last#containers-storage:}" >> "$STORED" ;;
    esac ;;
  # the stored image's manifest: the bytes `copy` wrote (the reference)
  inspect) ref=${last#containers-storage:}; grep -qxF -- "$ref" "$STORED" 2>/dev/null && printf '%s' "$ref" || exit 1 ;;
esac
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&skopeo, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.join("release.json"),
        r#"{"images": {"etcd": "quay.io/ms/etcd@sha256:1111111111111111111111111111111111111111111111111111111111111111", "dns": "quay.io/ms/dns:4.16"}}"#,
    )
    .unwrap();
    Box {
        store: dir.join("store"),
        cache: dir.join("cache"),
        dir,
    }
}

impl Box {
    fn run(&self, verb: &str, env: &[(&str, &str)]) -> Ran {
        let script = repo_root().join("containerfiles/embedded/microshift-copy-images");
        let out = std::process::Command::new("bash")
            .arg(script.as_str())
            .arg(verb)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.dir.join("bin")))
            .env("EMBEDDED_STORE", self.store.as_str())
            .env("RELEASE_FILE", self.dir.join("release.json").as_str())
            .env("PULL_SECRET_FILE", self.dir.join("none.json").as_str())
            .env("BLOB_INFO_CACHE", self.cache.as_str())
            .env("CALLS", self.dir.join("calls.log").as_str())
            .env("STORED", self.dir.join("stored.txt").as_str())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        Ran::of(out)
    }
    fn list(&self) -> Vec<String> {
        std::fs::read_to_string(self.store.join("image-list.txt"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default()
    }
}

fn refs(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{} {}", f[0], f.get(2).unwrap_or(&"?"))
        })
        .collect()
}

#[test]
fn pull_keeps_what_the_base_embeds_and_no_cache() {
    if !common::require_tool("jq", "pull_keeps_what_the_base_embeds_and_no_cache") {
        return;
    }
    let b = setup("embedded-pull");
    let first = b.run("pull", &[("EXTRA_IMAGES", "quay.io/app/web:1")]).ok();
    assert_eq!(
        refs(&b.list()),
        [
            "quay.io/ms/etcd@sha256:1111111111111111111111111111111111111111111111111111111111111111 release",
            "quay.io/ms/dns:4.16 release",
            "quay.io/app/web:1 workload",
        ],
        "{}",
        first.stderr
    );
    // skopeo's blob-info cache made during the copy is not left in the layer
    assert!(
        !b.cache.exists(),
        "the blob-info cache is left: {}",
        b.cache
    );
    // a layer on top of an embedded image (the same list, and one more workload image):
    // nothing copied again, the base's workload image kept, only the new one copied
    std::fs::remove_file(b.dir.join("calls.log")).unwrap();
    let second = b.run("pull", &[("EXTRA_IMAGES", "quay.io/app/api:2")]).ok();
    let calls = b.calls();
    assert_eq!(
        calls.lines().count(),
        1,
        "only the new image is copied:\n{calls}\n{}",
        second.stderr
    );
    assert!(calls.contains("docker://quay.io/app/api:2"), "{calls}");
    assert_eq!(
        refs(&b.list()),
        [
            "quay.io/ms/etcd@sha256:1111111111111111111111111111111111111111111111111111111111111111 release",
            "quay.io/ms/dns:4.16 release",
            "quay.io/app/web:1 workload",
            "quay.io/app/api:2 workload",
        ]
    );
    assert!(
        second.stderr.contains("kept 3 the base embeds"),
        "{}",
        second.stderr
    );
}

#[test]
fn copy_tries_every_image_and_blocks_only_on_release_images() {
    if !common::require_tool(
        "jq",
        "copy_tries_every_image_and_blocks_only_on_release_images",
    ) {
        return;
    }
    let b = setup("embedded-copy");
    b.run(
        "pull",
        &[("EXTRA_IMAGES", "quay.io/app/web:1 quay.io/app/api:2")],
    )
    .ok();
    let copies = |calls: &str| -> Vec<String> {
        calls
            .lines()
            .filter(|l| l.contains("containers-storage:") && l.starts_with("skopeo copy"))
            .map(|l| l.rsplit("containers-storage:").next().unwrap().to_string())
            .collect()
    };
    // a workload image cannot be copied: every other image is, the start goes on (exit 0)
    std::fs::remove_file(b.dir.join("calls.log")).unwrap();
    let workload = b.run("copy", &[("FAIL", "quay.io/app/web:1")]);
    assert_eq!(workload.code, 0, "{}", workload.stderr);
    assert_eq!(copies(&b.calls()).len(), 4, "{}", b.calls());
    assert!(
        workload
            .stderr
            .contains("cannot copy quay.io/app/web:1 (workload image)")
            && workload
                .stderr
                .contains("1 workload images could not be copied")
            && workload.stderr.contains("MicroShift starts"),
        "{}",
        workload.stderr
    );
    // the next start copies only what is missing
    std::fs::remove_file(b.dir.join("calls.log")).unwrap();
    let again = b.run("copy", &[]).ok();
    assert_eq!(
        copies(&b.calls()),
        ["quay.io/app/web:1"],
        "{}",
        again.stderr
    );
    // a release image cannot be copied (and one copy is missing from the image): every
    // image is still tried, each failure named, and the start stops (exit 1)
    std::fs::remove_file(b.dir.join("stored.txt")).unwrap();
    std::fs::remove_file(b.dir.join("calls.log")).unwrap();
    let gone = b
        .list()
        .iter()
        .find(|l| l.starts_with("quay.io/app/api:2,"))
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .unwrap();
    std::fs::remove_file(b.store.join(&gone).join("manifest.json")).unwrap();
    let release = b.run("copy", &[("FAIL", "quay.io/ms/dns:4.16")]);
    assert_eq!(release.code, 1, "{}", release.stderr);
    let tried = copies(&b.calls());
    assert_eq!(
        tried.len(),
        3,
        "every image with a copy is tried: {tried:?}"
    );
    for needle in [
        "cannot copy quay.io/ms/dns:4.16 (release image)",
        "quay.io/app/api:2 (workload image): its copy",
        "1 MicroShift release images could not be copied (quay.io/ms/dns:4.16)",
        "MicroShift is not started",
    ] {
        assert!(
            release.stderr.contains(needle),
            "{needle:?}:\n{}",
            release.stderr
        );
    }
}

/// A list written before images had a kind (`REF,SHA`): every image counts as a release
/// image, as before.
#[test]
fn an_old_list_blocks_on_every_image() {
    let b = setup("embedded-old-list");
    let sha = "abc";
    std::fs::create_dir_all(b.store.join(sha)).unwrap();
    std::fs::write(b.store.join(sha).join("manifest.json"), "x").unwrap();
    std::fs::write(
        b.store.join("image-list.txt"),
        format!("quay.io/app/web:1,{sha}\n"),
    )
    .unwrap();
    let ran = b.run("copy", &[("FAIL", "quay.io/app/web:1")]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(ran.stderr.contains("(release image)"), "{}", ran.stderr);
}
