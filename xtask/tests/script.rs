//! The plan that `--dry-run` prints is what the tool runs: for each command, the printed
//! script is run under bash, and the tool itself is run, against the same recording stubs;
//! the two lists of calls must be the same, in the same order, with the same arguments.
//! The stubs answer as a host would (an image exists, a volume group is missing and then
//! made, every pod is ready), so the conditions in the script are exercised too.

mod common;

use camino::{Utf8Path, Utf8PathBuf};
use common::{fake_iso, repo_root, scratch, Ran};

fn write_stubs(bin: &Utf8Path, dir: &Utf8Path) {
    let pods = repo_root().join("tests/fixtures/pods/ready.json");
    let image = r#"[{"Id":"sha256:0a1b2c3d4e5f","Digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","Size":4096,"Architecture":"amd64","Os":"linux","RepoTags":[],"History":[]}]"#;
    let image_arm = image.replace("\"amd64\"", "\"arm64\"");
    let list = r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"architecture":"amd64","os":"linux"}},{"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{"architecture":"arm64","os":"linux"}}]}"#;
    let vg = r#"{"report":[{"vg":[{"vg_name":"rhel","vg_size":"1073741824B","vg_free":"1073741824B"}]}]}"#;
    for p in common::HOST_PROGRAMS {
        let answers = match *p {
            "podman" => format!(
                r#"# a lane on a remote builder: the same answers
case "$1" in --url|--connection) shift 2 ;; esac
case "$*" in
  "image inspect "*linux-arm64) echo '{image_arm}' ;;
  "image inspect "*) echo '{image}' ;;
  "info --format "*) echo /srv/podman-storage ;;
  "container exists "*|"manifest exists "*) exit 1 ;;
  "run -d "*) echo 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef ;;
  "exec "*" oc get pods "*) cat "$STUB_DIR/pods.json" 2>/dev/null || cat {pods} ;;
  "exec "*" systemctl is-active "*) echo active ;;
  "exec "*" cat /usr/lib/containers/storage/image-list.txt") echo 'quay.io/a/b@sha256:5555555555555555555555555555555555555555555555555555555555555555,abc' ;;
  "run --rm --network=none --entrypoint /usr/bin/microshift-copy-images "*" list")
    printf 'quay.io/a/b@sha256:5555555555555555555555555555555555555555555555555555555555555555\tsha256:5555555555555555555555555555555555555555555555555555555555555555\t1234\n' ;;
  "login "*) cat > /dev/null ;;
  # the base image's own signature policy, as RHEL ships it, with an entry for a tag of the
  # signed repository (both sides drop it) and one for another repository (both keep it)
  "run --rm --network=none --entrypoint cat "*" /etc/containers/policy.json")
    echo '{{"default":[{{"type":"insecureAcceptAnything"}}],"transports":{{"docker":{{"registry.redhat.io":[{{"type":"signedBy","keyType":"GPGKeys","keyPath":"/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}}],"quay.io/myorg/mypath/microshift-4.16-bootc:latest":[{{"type":"insecureAcceptAnything"}}],"quay.io/myorg/mypath/microshift-4.16-bootc-tools":[{{"type":"insecureAcceptAnything"}}]}},"docker-daemon":{{"":[{{"type":"insecureAcceptAnything"}}]}}}}}}' ;;
  # a manifest list as a registry would hold it: the members added (by tag, or by the digest
  # a push wrote or a read of the registry gave), each with its digest and architecture
  "manifest create "*) : > "$STUB_DIR/list-members" ;;
  "manifest add "*)
    m="${{@: -1}}"
    case "$m" in
      *@*) d="${{m##*@}}"; a=$(awk -v d="$d" '$1 == d {{ print $2; exit }}' "$STUB_DIR/digest-arch") ;;
      *) a="${{m##*linux-}}"; d=$(awk -v a="$a" '$2 == a {{ print $1; exit }}' "$STUB_DIR/digest-arch") ;;
    esac
    echo "$d $a" >> "$STUB_DIR/list-members" ;;
  "manifest push "*)
    {{ printf '{{"schemaVersion":2,"manifests":['
      sep=
      while read -r d a; do
        printf '%s{{"digest":"%s","platform":{{"architecture":"%s","os":"linux"}}}}' "$sep" "$d" "$a"
        sep=,
      done < "$STUB_DIR/list-members"
      printf ']}}\n'; }} > "$STUB_DIR/list.json" ;;
esac
# a push writes the digest of the image of its architecture (a list's: 4444...)
prev=
for a in "$@"; do
  if [ "$prev" = --digestfile ]; then
    case "$*" in
      *linux-amd64*) echo {AMD64_DIGEST} ;;
      *linux-arm64*) echo {ARM64_DIGEST} ;;
      *) echo sha256:4444444444444444444444444444444444444444444444444444444444444444 ;;
    esac > "$a"
  fi
  prev=$a
done"#
            ),
            // the registry's list: what the last `manifest push` wrote, else one whose
            // members are other images (stale)
            // a site mirror (mirror.site.example): a repository is there once copied to (or
            // always, with mirror-full); every source serves MIRROR_MANIFEST, but the app's
            // repository MIRROR_LIST, whose image (MIRROR_MEMBER) is MIRROR_MANIFEST
            "skopeo" => format!(
                r#"last="${{@: -1}}"
case "$last" in *@*) repo="${{last%@*}}" ;; *) repo="${{last%:*}}" ;; esac
case "$*" in
  *"inspect --raw"*"@{MIRROR_MEMBER}") printf '%s' '{MIRROR_MANIFEST}' ;;
  *"copy "*"docker://mirror.site.example"*) echo "$repo" >> "$STUB_DIR/mirror-copied" ;;
  *"inspect --raw"*"docker://mirror.site.example"*)
    [ -e "$STUB_DIR/mirror-full" ] || grep -qxF "$repo" "$STUB_DIR/mirror-copied" 2>/dev/null || exit 1
    case "$repo" in */app) printf '%s' '{MIRROR_LIST}' ;; *) printf '%s' '{MIRROR_MANIFEST}' ;; esac ;;
  *"inspect --raw"*"docker://quay.io/xtask-script/app:"*) printf '%s' '{MIRROR_LIST}' ;;
  *"inspect --raw"*"docker://quay.io/xtask-script/"*) printf '%s' '{MIRROR_MANIFEST}' ;;
  # what a remote lane pushed, read back by tag: the image built (config = the stub
  # podman's image id); its digest and architecture noted for the list
  *"inspect --raw"*":linux-"*)
    a="${{last##*linux-}}"
    m='{{"schemaVersion":2,"config":{{"digest":"sha256:0a1b2c3d4e5f"}},"layers":[],"annotations":{{"arch":"'"$a"'"}}}}'
    printf '%s' "$m"
    echo "sha256:$(printf '%s' "$m" | /usr/bin/sha256sum | cut -c1-64) $a" >> "$STUB_DIR/digest-arch" ;;
  *"--format {{{{.Digest}}}}"*":linux-amd64") echo {AMD64_DIGEST} ;;
  *"--format {{{{.Digest}}}}"*":linux-arm64") echo {ARM64_DIGEST} ;;
  *"--format {{{{.Digest}}}}"*) echo sha256:4444444444444444444444444444444444444444444444444444444444444444 ;;
  *) cat "$STUB_DIR/list.json" 2>/dev/null || echo '{list}' ;;
esac"#
            ),
            "virsh" => r#"case "$*" in
  *dominfo*) [ -e "$STUB_DIR/vm-exists" ] || exit 1 ;;
  *domstate*) echo running ;;
  *domifaddr*) echo ' vnet0 52:54:00:6b:3c:58 ipv4 192.168.122.47/24' ;;
esac"#
                .to_string(),
            "vgs" => format!(
                r#"[ -e "$STUB_DIR/vg-made" ] || [ -e "$STUB_DIR/vg-exists" ] || exit 5; echo '{vg}'"#
            ),
            "vgcreate" => r#"touch "$STUB_DIR/vg-made""#.to_string(),
            "df" => "echo Avail; echo 999999999999".to_string(),
            // the plan's build directory; the script's own private directory is a real one
            "mktemp" => r#"case "$*" in -d) exec /usr/bin/mktemp -d ;; *) echo "$STUB_DIR/build-dir" ;; esac"#.to_string(),
            // a file's hash is made up; a manifest on stdin (mirror's checks) is hashed
            "sha256sum" => {
                r#"[ $# -eq 0 ] && exec /usr/bin/sha256sum
echo "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  $2""#
                    .to_string()
            }
            "losetup" => r#"case "$*" in
  "-f --show "*) echo /dev/loop7 ;;
  "-j "*) echo "/dev/loop7: []: (/x)" ;;
esac"#
                .to_string(),
            // a file written from stdin: its content (JSON compared as JSON: jq's key order is
            // not serde's) goes into the log, so the script and the tool must write the same
            "gpg" => r#"case "$*" in
  *--list-secret-keys*|*--show-keys*) echo 'fpr:::::::::A6134A4D420C5D4D2AFDBC977D8C745D2AEEEEC0:' ;;
esac"#
                .to_string(),
            "install" => r#"case " $* " in
  *" /dev/stdin "*)
    c=$(cat)
    j=$(printf '%s' "$c" | /usr/bin/jq -S -c . 2>/dev/null) || j=$c
    printf 'install-content %s\n' "$(printf '%s' "$j" | /usr/bin/sha256sum | cut -c1-16)" >> "$STUB_DIR/calls.log" ;;
esac"#
                .to_string(),
            "ssh" => format!(
                r#"case "$*" in
  *"systemctl is-active"*) echo active ;;
  *"oc get pods"*) cat {pods} ;;
esac"#
            ),
            // rollout: the inventory as ansible-inventory prints it; a play that writes the
            // wave documents the test put in $STUB_DIR/waves (its results directory is beside
            // the variables file it is given; rm and mkdir are stubs too)
            "ansible-inventory" => r#"cat "$STUB_DIR/inventory.json""#.to_string(),
            "ansible-playbook" => r#"while [ $# -gt 0 ]; do
  case "$1" in -e) vars=${2#@}; shift ;; esac
  shift
done
results="${vars%/*}/results"
/bin/rm -rf -- "$results"
/bin/mkdir -p -- "$results"
for w in "$STUB_DIR"/waves/*.json; do
  [ -e "$w" ] && cp "$w" "$results/"
done
[ -e "$STUB_DIR/play-failed" ] && exit 2"#
                .to_string(),
            "find" => r#"exec /usr/bin/find "$@""#.to_string(),
            _ => String::new(),
        };
        let path = bin.join(p);
        std::fs::write(
            &path,
            format!("#!/bin/bash\necho \"{p} $*\" >> \"$STUB_DIR/calls.log\"\n{answers}\nexit 0\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // the architecture of each digest the stub registry gives out (more are noted as read)
    std::fs::write(
        dir.join("digest-arch"),
        format!("{AMD64_DIGEST} amd64\n{ARM64_DIGEST} arm64\n"),
    )
    .unwrap();
}

/// The digests the stub registry gives each architecture's image (its push's digest file,
/// a read of its tag); other than the stale list's members (2222..., 3333...).
const AMD64_DIGEST: &str =
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const ARM64_DIGEST: &str =
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// What the stub registries serve for every image `mirror` copies.
const MIRROR_MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"size":1000},"layers":[{"size":2000000}]}"#;
/// A list the stub registries serve for the workload image `mirror` copies, and its image.
const MIRROR_LIST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:abababababababababababababababababababababababababababababababab","size":150}]}"#;
const MIRROR_MEMBER: &str =
    "sha256:abababababababababababababababababababababababababababababababab";

struct Bench {
    dir: Utf8PathBuf,
    bin: Utf8PathBuf,
    iso: Utf8PathBuf,
    /// Before each side runs, the registry's list is someone else's (names other images).
    stale_list: std::cell::Cell<bool>,
}

impl Bench {
    fn xtask(&self, args: &[&str]) -> std::process::Command {
        let mut c = common::isolated_xtask(&format!("{}:/usr/bin:/bin", self.bin));
        common::with_fixture_secrets(c.args(args))
            .env("STUB_DIR", self.dir.as_str())
            .env("TMPDIR", self.dir.join("tmp").as_str())
            .env("XTASK_STATE_DIR", self.dir.join("state").as_str())
            .env("USER_PASSWD", "canary-user-passwd")
            .env("REGISTRY_USER", "robot")
            .env("REGISTRY_PASSWORD", "canary-registry-pw")
            .env("SIGN_PASSPHRASE", "canary-sign-pass");
        c
    }

    fn reset(&self) {
        for f in ["calls.log", "vg-made", "list-members", "mirror-copied"] {
            let _ = std::fs::remove_file(self.dir.join(f));
        }
        if self.stale_list.get() {
            let _ = std::fs::remove_file(self.dir.join("list.json"));
        }
    }

    /// The calls, with the private secret directory's varying name made constant.
    fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default();
        let tmp = format!("{}/", self.dir.join("tmp"));
        text.lines()
            .map(|l| {
                let mut out = String::new();
                for word in l.split(' ') {
                    let w = match word.find(&tmp) {
                        Some(i) => {
                            // <tmp>/xtask-secrets-<pid>-<n>-<nanos>/<file> -> <file>
                            let rest = &word[i + tmp.len()..];
                            let file = rest.split_once('/').map_or(rest, |(_, f)| f);
                            format!("{}SECRETS/{file}", &word[..i])
                        }
                        None => word.to_string(),
                    };
                    out.push_str(&w);
                    out.push(' ');
                }
                out.trim_end().to_string()
            })
            .collect()
    }

    /// Run the printed plan, then the tool; both lists of calls.
    fn both(&self, args: &[&str]) -> (Vec<String>, Vec<String>, String) {
        let mut dry = vec!["--dry-run"];
        dry.extend_from_slice(args);
        let script = Ran::of(self.xtask(&dry).output().unwrap()).ok().stdout;
        self.reset();
        // the script's secret files, where a user would put them
        let secrets = self.dir.join("tmp/xtask-secrets-1-1");
        std::fs::create_dir_all(&secrets).unwrap();
        std::fs::write(secrets.join("user-passwd"), "canary-user-passwd").unwrap();
        std::fs::write(secrets.join("kickstart.ks"), "# kickstart").unwrap();
        std::fs::write(secrets.join("config.toml"), "[customizations]").unwrap();
        std::fs::write(secrets.join("iso-config.toml"), "[customizations]").unwrap();
        std::fs::write(secrets.join("sign-passphrase"), "canary-sign-pass").unwrap();
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(self.dir.join("work"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin))
            .env("STUB_DIR", self.dir.as_str())
            // the script's own private directory (`mktemp -d`) where the tool makes its own
            .env("TMPDIR", self.dir.join("tmp").as_str())
            .env("USER_PASSWD_FILE", secrets.join("user-passwd").as_str())
            .env("KICKSTART_FILE", secrets.join("kickstart.ks").as_str())
            .env("BUILDER_CONFIG_FILE", secrets.join("config.toml").as_str())
            .env(
                "ISO_BUILDER_CONFIG_FILE",
                secrets.join("iso-config.toml").as_str(),
            )
            .env("REGISTRY_PASSWORD", "canary-registry-pw")
            .env(
                "SIGN_PASSPHRASE_FILE",
                secrets.join("sign-passphrase").as_str(),
            )
            .output()
            .unwrap();
        let ran = Ran::of(out);
        assert_eq!(
            ran.code, 0,
            "{args:?}: the printed plan failed under bash:\n{}\n--- script:\n{script}",
            ran.stderr
        );
        std::fs::remove_dir_all(&secrets).unwrap();
        let script_calls: Vec<String> = self
            .calls()
            .into_iter()
            .map(|c| c.replace(&format!("{}/SECRETS", self.dir.join("tmp")), "SECRETS"))
            // the script makes and removes its private directory with `mktemp` and `rm`, the
            // tool without a command
            .filter(|c| c != "mktemp -d")
            // the script hashes what skopeo printed with sha256sum (a remote lane's push
            // read back), the tool hashes it itself
            .filter(|c| c != "sha256sum")
            .filter(|c| !c.starts_with("rm -rf -- SECRETS/tmp.") || c[19..].contains(' '))
            .collect();
        self.reset();
        let tool = Ran::of(self.xtask(args).output().unwrap());
        assert_eq!(tool.code, 0, "{args:?}: the tool failed:\n{}", tool.stderr);
        let tool_calls: Vec<String> = self
            .calls()
            .into_iter()
            .map(|c| c.replace(&format!("{}/SECRETS", self.dir.join("tmp")), "SECRETS"))
            .collect();
        // lanes run at the same time: their calls interleave in any order
        let (mut script_calls, mut tool_calls) = (script_calls, tool_calls);
        if args.first() == Some(&"release") {
            script_calls.sort();
            tool_calls.sort();
        }
        (script_calls, tool_calls, script)
    }
}

#[test]
fn printed_plans_run_what_the_tool_runs() {
    if !common::require_root("printed_plans_run_what_the_tool_runs") {
        return; // the plans would put `sudo` in front, which the stubs do not model
    }
    let dir = scratch("script-vs-tool");
    let bin = dir.join("bin");
    for d in ["bin", "tmp", "state", "work"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    write_stubs(&bin, &dir);
    let iso = dir.join("rhel-9.4-x86_64-boot.iso");
    fake_iso(&iso, "RHEL-9-4-0-BaseOS-x86_64");
    let bench = Bench {
        dir,
        bin,
        iso,
        stale_list: Default::default(),
    };
    let loop_file = bench.dir.join("work/vg.img");
    let disk_out = bench.dir.join("disk-out");
    std::fs::create_dir_all(&disk_out).unwrap();
    let iso = bench.iso.to_string();
    // signed pushes: the fixtures' keys (the sigstore one made private: git keeps no mode)
    let signing = repo_root().join("tests/fixtures/signing");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            signing.join("sigstore.private"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let gpg_public = signing.join("xtask-signing.gpg").to_string();
    let sigstore_private = signing.join("sigstore.private").to_string();
    let sigstore_public = signing.join("sigstore.pub").to_string();
    let lookaside = bench.dir.join("lookaside").to_string();
    let gpg: Vec<&str> = vec![
        "--sign-method",
        "gpg",
        "--sign-by",
        "A6134A4D420C5D4D2AFDBC977D8C745D2AEEEEC0",
        "--sign-public-key",
        &gpg_public,
        "--lookaside-dir",
        &lookaside,
        "--lookaside-url",
        "https://sigs.example.com",
    ];
    let with = |base: &[&'static str], extra: &[&str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let signed: Vec<Vec<String>> = vec![
        // signing (gpg), the policy layer in both lanes, the list signed and checked; then
        // again, every push skipped: signed and checked again
        with(&["release"], &gpg),
        with(&["release"], &gpg),
        with(
            &["push", "--arch", "amd64"],
            &[
                "--sign-by",
                &sigstore_private,
                "--sign-public-key",
                &sigstore_public,
            ],
        ),
        with(&["build", "--arch", "arm64", "--embed"], &gpg),
        with(
            &["keygen", "--method", "gpg", "--output"],
            &[bench.dir.join("keys").as_str()],
        ),
        // the arm64 lane on another podman (its digest asked of the registry after its push)
        with(
            &["release", "--force", "--builder"],
            &["arm64=unix:///run/podman/podman.sock"],
        ),
    ];
    let signed: Vec<Vec<&str>> = signed
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let commands: Vec<Vec<&str>> = vec![
        vec!["build", "--arch", "amd64"],
        vec![
            "build",
            "--embed",
            "--arch",
            "arm64",
            "--embed-image",
            "quay.io/myorg/app:1",
        ],
        vec!["push", "--arch", "arm64"],
        vec!["manifest"],
        // a release from scratch, then again with the record of its pushes: skips; then
        // again after the registry's list was overwritten with other images: the list is
        // made and pushed again, by the script as by the tool
        vec!["release"],
        vec!["release"],
        vec!["release"],
        // two builder runs: the disk image's user from its config, the ISO's from its kickstart
        vec![
            "disk",
            "--type",
            "qcow2,anaconda-iso",
            "--min-free",
            "1G",
            "--output",
            disk_out.as_str(),
        ],
        vec![
            "run",
            "-d",
            "--skip-openvswitch",
            "--lvm-loop",
            "1G",
            "--loop-file",
            loop_file.as_str(),
        ],
        vec!["verify"],
        vec!["clean"],
        vec!["run", "--skip-openvswitch", "--host-storage", "/srv"],
        vec![
            "verify",
            "--vm",
            "edge-1",
            "--libvirt-uri",
            "test:///default",
        ],
        vec![
            "vm",
            "--arch",
            "amd64",
            "--iso",
            &iso,
            "--libvirt-uri",
            "test:///default",
        ],
    ];
    let mut compared = 0;
    let mut releases = 0;
    for args in &commands {
        if args[0] == "release" {
            releases += 1;
            // someone else's list under the tag: its members are other images
            bench.stale_list.set(releases == 3);
        }
        if args.contains(&"--host-storage") {
            // a host whose volume group exists: no loop device is made
            std::fs::write(bench.dir.join("vg-exists"), "").unwrap();
        }
        let (script, tool, text) = bench.both(args);
        assert!(!tool.is_empty(), "{args:?}: the tool ran nothing");
        assert_eq!(
            script, tool,
            "{args:?}: the printed plan and the tool ran different commands\n--- script:\n{text}"
        );
        compared += tool.len();
        if args[0] == "release" {
            let pushes = tool
                .iter()
                .filter(|c| c.starts_with("podman push "))
                .count();
            let skips = tool
                .iter()
                .filter(|c| c.contains("--format {{.Digest}}"))
                .count();
            // the first release pushes both; the next ones find both in the registry
            assert!(
                (pushes, skips) == (2, 0) || (pushes, skips) == (0, 2),
                "{pushes} pushes, {skips} digest checks: {tool:?}"
            );
            let list_pushed = tool.iter().any(|c| c.starts_with("podman manifest push "));
            // the second finds the list right; the third finds it stale and repairs it
            assert_eq!(list_pushed, releases != 2, "release {releases}: {tool:?}");
        }
        if args.contains(&"--embed") {
            assert!(
                tool.iter().any(|c| c.contains("id=pullsecret,src=")),
                "{tool:?}"
            );
        }
        if args[0] == "run" && args.contains(&"--lvm-loop") {
            // the creating branch ran: the script's `if` took the same turn as the tool
            assert!(tool
                .iter()
                .any(|c| c.starts_with("vgcreate --addtag xtask-microshift")));
            assert!(
                tool.iter()
                    .any(|c| c.contains("-v /srv/podman-storage:/var/lib/containers/storage")),
                "{tool:?}"
            );
        }
    }
    // vm --destroy: only with the VM the record now lists (the `vm` run above)
    std::fs::write(bench.dir.join("vm-exists"), "").unwrap();
    let (script, tool, text) = bench.both(&["vm", "--destroy"]);
    assert_eq!(script, tool, "--- script:\n{text}");
    assert!(
        tool.iter()
            .any(|c| c.contains("undefine rhel") || c.contains("undefine microshift")),
        "{tool:?}"
    );
    compared += tool.len();
    // signed pushes: the same skopeo signing and checking calls, the same files written
    // (their contents compared), the passphrase only ever in its private file; a lane on a
    // remote builder
    for args in &signed {
        // each side starts from the same registry: someone else's list under the tag
        bench.stale_list.set(true);
        let (script, tool, text) = bench.both(args);
        assert_eq!(
            script, tool,
            "{args:?}: the printed plan and the tool ran different commands\n--- script:\n{text}"
        );
        compared += tool.len();
        assert!(
            !tool.iter().any(|c| c.contains("canary-sign-pass")),
            "the passphrase on a command line: {tool:?}"
        );
        if args.contains(&"--builder") {
            assert!(
                tool.iter()
                    .any(|c| c.starts_with("podman --url unix:///run/podman/podman.sock build ")),
                "{tool:?}"
            );
            assert!(
                tool.iter()
                    .any(|c| c.starts_with("podman --url unix:///run/podman/podman.sock push ")),
                "{tool:?}"
            );
            assert!(
                !tool
                    .iter()
                    .any(|c| c.starts_with("podman --url") && c.contains("linux-amd64")),
                "the amd64 lane went to the builder: {tool:?}"
            );
            continue;
        }
        if args[0] != "keygen" {
            assert!(
                tool.iter().any(|c| c.starts_with("install-content ")),
                "{args:?}: no file written: {tool:?}"
            );
        }
        if matches!(args[0], "release" | "push") {
            assert!(
                tool.iter()
                    .any(|c| c.contains("-passphrase-file SECRETS/sign-passphrase ")),
                "{args:?}: {tool:?}"
            );
            assert!(
                tool.iter().any(|c| c.starts_with("skopeo --policy ")),
                "{args:?}: no check after the push: {tool:?}"
            );
        }
        if args[0] == "build" {
            assert!(
                tool.iter()
                    .any(|c| c.contains("-f ") && c.contains("Containerfile.bootc-signed")),
                "{tool:?}"
            );
        }
    }
    assert!(compared >= 40, "compared only {compared} calls");
}

/// The printed plan judges outputs as the tool does: `verify` against each saved pod list
/// (ready, starting, stuck, none), the pasted script and the tool end the same way — 0 when
/// every pod is ready, 3 when the wait runs out — not "the first `oc` call answered".
#[test]
fn printed_plans_judge_outputs_as_the_tool_does() {
    if !common::require_root("printed_plans_judge_outputs_as_the_tool_does")
        || !common::require_tool("jq", "printed_plans_judge_outputs_as_the_tool_does")
    {
        return;
    }
    let dir = scratch("script-judges");
    let bin = dir.join("bin");
    for d in ["bin", "tmp", "state", "work"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    write_stubs(&bin, &dir);
    let bench = Bench {
        iso: dir.join("none.iso"),
        dir,
        bin,
        stale_list: Default::default(),
    };
    let fixtures = repo_root().join("tests/fixtures/pods");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = Utf8PathBuf::from_path_buf(entry.unwrap().path()).unwrap();
        std::fs::copy(&path, bench.dir.join("pods.json")).unwrap();
        let args = [
            "verify",
            "--container",
            "edge",
            "--timeout",
            "2s",
            "--interval",
            "1s",
        ];
        let mut dry = vec!["--dry-run"];
        dry.extend_from_slice(&args);
        let script = Ran::of(bench.xtask(&dry).output().unwrap()).ok().stdout;
        let pasted = Ran::of(
            std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(bench.dir.join("work"))
                .env_clear()
                .env("PATH", format!("{}:/usr/bin:/bin", bench.bin))
                .env("STUB_DIR", bench.dir.as_str())
                .env("TMPDIR", bench.dir.join("tmp").as_str())
                .output()
                .unwrap(),
        );
        let tool = Ran::of(bench.xtask(&args).output().unwrap());
        let ready = path.file_name() == Some("ready.json");
        assert_eq!(
            (pasted.code, tool.code),
            if ready { (0, 0) } else { (3, 3) },
            "{path}: the pasted script and the tool ended differently\n--- script stderr:\n{}\n--- tool stderr:\n{}",
            pasted.stderr,
            tool.stderr
        );
        seen.push(path.file_name().unwrap().to_string());
    }
    seen.sort();
    assert_eq!(
        seen,
        ["empty.json", "ready.json", "starting.json", "stuck.json"]
    );
}

/// Issue 21: the pasted `upgrade`, `rollback` and `status` scripts end as the tool does,
/// against one stub device (tests/device/ssh-stub-device, an `ssh` that answers from files):
/// a healthy upgrade (0), the same to an image named by digest (0), greenboot red and the
/// device rolled back (4), a staged digest that
/// is not the expected one (1, no reboot), a device that never comes back (3), a rollback
/// (0), a status (0). Each side starts from the same device. Issue 29: a pull past
/// `--pull-timeout` (1, no reboot, not tried again), a pull longer than `--timeout` (0: the
/// waits count from the reboot), a device that runs the image already with greenboot red (1
/// at once, no wait for a rollback), one with a deployment left staged (0, reported), a
/// rollback queued already (0: only rebooted, not cancelled), one that runs the image already
/// with a rollback queued (0, reported: it would boot the old image at its next reboot).
#[test]
fn pasted_lifecycle_scripts_end_as_the_tool_does() {
    let test = "pasted_lifecycle_scripts_end_as_the_tool_does";
    if !common::require_tool("jq", test) {
        return;
    }
    let dir = scratch("script-lifecycle");
    let bin = dir.join("bin");
    for d in ["bin", "tmp", "state", "work"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(
        repo_root().join("tests/device/ssh-stub-device"),
        bin.join("ssh"),
    )
    .unwrap();
    // the registry: a list whose amd64 entry is 2222...
    let list = r#"{"schemaVersion":2,"manifests":[{"digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222","platform":{"architecture":"amd64","os":"linux"}},{"digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333","platform":{"architecture":"arm64","os":"linux"}}]}"#;
    // an image named by digest: one manifest (its digest is the one named)
    std::fs::write(
        bin.join("skopeo"),
        format!("#!/bin/sh\necho \"skopeo $*\" >> \"$STUB_DIR/calls.log\"\ncase \"$*\" in\n  *@sha256:*) echo '{{\"schemaVersion\":2,\"config\":{{}},\"layers\":[]}}' ;;\n  *) echo '{list}' ;;\nesac\n"),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("skopeo"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const OTHER: &str = "sha256:9999999999999999999999999999999999999999999999999999999999999999";
    let dev = dir.join("dev");
    // the device as installed (old booted, `rollback` given), with a scenario's control
    // files (which may name another booted image)
    let device = |rollback: Option<&str>, control: &[(&str, &str)]| {
        let _ = std::fs::remove_dir_all(&dev);
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(dev.join("booted"), format!("{OLD}\n")).unwrap();
        std::fs::write(dev.join("boot_id"), "first-boot\n").unwrap();
        if let Some(r) = rollback {
            std::fs::write(dev.join("rollback"), format!("{r}\n")).unwrap();
        }
        for (file, text) in control {
            std::fs::write(dev.join(file), format!("{text}\n")).unwrap();
        }
    };
    let booted = || {
        std::fs::read_to_string(dev.join("booted"))
            .unwrap()
            .trim()
            .to_string()
    };
    let env = |c: &mut std::process::Command| {
        c.env("STUB_DIR", dir.as_str())
            .env(
                "STUB_PODS",
                repo_root().join("tests/fixtures/pods/ready.json").as_str(),
            )
            .env("TMPDIR", dir.join("tmp").as_str());
    };
    // name, arguments, the device's rollback deployment, a control file, the exit code, what
    // both sides say, the image booted after
    type Scenario<'a> = (
        &'a str,
        &'a [&'a str],
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        i32,
        &'a str,
        &'a str,
    );
    let scenarios: [Scenario; 13] = [
        ("healthy", &["upgrade"], None, &[], 0, "", NEW),
        (
            "pinned",
            &["upgrade", "--image", "quay.io/org/edge@sha256:2222222222222222222222222222222222222222222222222222222222222222"],
            None,
            &[],
            0,
            "",
            NEW,
        ),
        (
            "red",
            &["upgrade"],
            None,
            &[("red", NEW)],
            4,
            "40_microshift_running_check.sh",
            OLD,
        ),
        (
            "staged-other",
            &["upgrade"],
            None,
            &[("stage-other", OTHER)],
            1,
            "the device was not rebooted",
            OLD,
        ),
        (
            "never-back",
            &["upgrade", "--timeout", "3s"],
            None,
            &[("hang", "")],
            3,
            "wait until the device is back",
            NEW,
        ),
        // issue 29: a pull that runs out of time ends the upgrade before any reboot, tried
        // once
        (
            "pull-past-its-limit",
            &["upgrade", "--pull-timeout", "1s"],
            None,
            &[("switch-seconds", "30")],
            1,
            "(stage the image (bootc switch)) failed",
            OLD,
        ),
        // a pull (5 s) longer than the whole --timeout (4 s): the waits count from the
        // reboot, and the device answers at the second try (room for a loaded machine)
        (
            "slow-pull",
            &["upgrade", "--timeout", "4s"],
            None,
            &[("switch-seconds", "5"), ("boot-tries", "1")],
            0,
            "",
            NEW,
        ),
        // the image runs already and greenboot fails it: said at once (within --timeout)
        (
            "already-red",
            &["upgrade", "--timeout", "20s"],
            Some(OLD),
            &[("booted", NEW), ("red", NEW)],
            1,
            "40_microshift_running_check.sh",
            NEW,
        ),
        (
            "left-staged",
            &["upgrade"],
            Some(OLD),
            &[("booted", NEW), ("staged", OTHER)],
            0,
            "staged, left by an upgrade that did not reboot it",
            NEW,
        ),
        // the image runs already, and a rollback is queued (a rollback that did not reboot):
        // the device would boot the old image at its next reboot; said
        (
            "left-queued",
            &["upgrade"],
            Some(OLD),
            &[("booted", NEW), ("queued", "")],
            0,
            "warning: the device has a rollback queued: it boots quay.io/org/edge@sha256:1111",
            NEW,
        ),
        ("rollback", &["rollback"], Some(NEW), &[], 0, "", NEW),
        // a rollback queued already (by greenboot, or by hand) is rebooted into, not cancelled
        (
            "rollback-queued",
            &["rollback"],
            Some(NEW),
            &[("queued", "")],
            0,
            "",
            NEW,
        ),
        ("status", &["status"], Some(NEW), &[], 0, "", OLD),
    ];
    for (name, args, rollback, control, code, says, after) in scenarios {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--host", "redhat@192.0.2.10"]);
        if full[0] != "rollback" && !full.contains(&"--image") {
            full.extend(["--image", "quay.io/org/edge:v2"]);
        }
        let mut dry = vec!["--dry-run"];
        dry.extend_from_slice(&full);
        let mut printed = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        printed
            .args(&dry)
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        env(&mut printed);
        let script = Ran::of(printed.output().unwrap()).ok().stdout;

        // how many pulls a side asked for
        let switches = || {
            let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
            let _ = std::fs::remove_file(dir.join("calls.log"));
            calls.matches("bootc switch").count()
        };
        device(rollback, control);
        switches();
        let mut bash = std::process::Command::new("bash");
        bash.arg("-c")
            .arg(&script)
            .current_dir(dir.join("work"))
            .env_clear()
            .env("PATH", format!("{bin}:/usr/bin:/bin"));
        env(&mut bash);
        let pasted = Ran::of(bash.output().unwrap());
        let pasted_after = booted();
        let pasted_switches = switches();

        device(rollback, control);
        let mut tool = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        tool.args(&full)
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        env(&mut tool);
        let tool = Ran::of(tool.output().unwrap());
        let tool_after = booted();
        let tool_switches = switches();

        assert_eq!(
            (pasted.code, tool.code),
            (code, code),
            "{name}: the pasted script and the tool ended differently\n--- script stderr:\n{}\n--- tool stderr:\n{}\n--- script:\n{script}",
            pasted.stderr,
            tool.stderr
        );
        // the script shows the journal's lines as they come (stdout), the tool in its error
        for (side, out) in [("script", pasted.all()), ("tool", tool.stderr.clone())] {
            assert!(out.contains(says), "{name}, {side}: no {says:?} in\n{out}");
        }
        assert_eq!(
            (pasted_after.as_str(), tool_after.as_str()),
            (after, after),
            "{name}: the device booted another image"
        );
        if name == "pull-past-its-limit" {
            // a pull stopped at its limit is not tried again
            assert_eq!((pasted_switches, tool_switches), (1, 1), "{name}");
            assert!(
                tool.stderr.contains("did not end within 1s"),
                "{name}: {}",
                tool.stderr
            );
        }
        if name == "rollback-queued" {
            assert!(
                tool.stderr.contains("a rollback is queued already")
                    && !tool.stderr.contains("bootc rollback`"),
                "{name}: {}",
                tool.stderr
            );
        }
    }
}

/// `mirror`: the pasted script and the tool make the same calls, first into an empty mirror
/// (every image asked for, copied, read back by digest), then into one that holds every image
/// (asked for only). The stub registries serve one manifest; the release list names its
/// digest.
#[test]
fn pasted_mirror_scripts_copy_what_the_tool_copies() {
    if !common::require_root("pasted_mirror_scripts_copy_what_the_tool_copies") {
        return; // the plans would put `sudo` in front, which the stubs do not model
    }
    let dir = scratch("script-vs-tool-mirror");
    let bin = dir.join("bin");
    for d in ["bin", "tmp", "state", "work"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    write_stubs(&bin, &dir);
    let iso = dir.join("unused.iso");
    let bench = Bench {
        dir: dir.clone(),
        bin,
        iso,
        stale_list: Default::default(),
    };
    let d = xtask::digest::digest(MIRROR_MANIFEST.as_bytes());
    let list = dir.join("release-x86_64.json");
    std::fs::write(
        &list,
        format!(
            r#"{{"images":{{"a":"quay.io/xtask-script/a@{d}","b":"quay.io/xtask-script/b@{d}"}}}}"#
        ),
    )
    .unwrap();
    let args = [
        "mirror",
        "--to",
        "mirror.site.example:8443/site",
        "--release-list",
        list.as_str(),
        "--embed-image",
        "quay.io/xtask-script/app:1.0",
        "--no-os-image",
        "--jobs",
        "1",
    ];
    let _ = std::fs::remove_file(dir.join("mirror-full"));
    // the script hashes what skopeo printed with sha256sum; the tool hashes it itself
    let hashed = |calls: Vec<String>| -> Vec<String> {
        calls.into_iter().filter(|c| c != "sha256sum").collect()
    };
    let (script, tool, text) = bench.both(&args);
    assert_eq!(
        hashed(script),
        tool,
        "the printed plan and the tool differ:\n{text}"
    );
    let copies = tool
        .iter()
        .filter(|c| c.starts_with("skopeo copy "))
        .count();
    assert_eq!(copies, 3, "{tool:#?}");
    // the tag is copied by the digest read at the source (a list's)
    let app = xtask::digest::digest(MIRROR_LIST.as_bytes());
    assert!(
        tool.iter().any(|c| c.starts_with("skopeo copy ") && c.contains(&format!("docker://quay.io/xtask-script/app@{app} docker://mirror.site.example:8443/site/quay.io/xtask-script/app:1.0"))),
        "{tool:#?}"
    );
    // asked for and read back by its tag (issue 29), and its image read for its bytes
    assert_eq!(
        tool.iter()
            .filter(|c| c.starts_with("skopeo inspect --raw docker://mirror.site.example:8443/site/quay.io/xtask-script/app:1.0"))
            .count(),
        2,
        "{tool:#?}"
    );
    assert!(
        tool.iter().any(|c| c
            == &format!("skopeo inspect --raw docker://mirror.site.example:8443/site/quay.io/xtask-script/app@{MIRROR_MEMBER}")),
        "{tool:#?}"
    );
    std::fs::write(dir.join("mirror-full"), "").unwrap();
    let (script, tool, text) = bench.both(&args);
    assert_eq!(
        hashed(script),
        tool,
        "the printed plan and the tool differ:\n{text}"
    );
    assert!(
        !tool.iter().any(|c| c.starts_with("skopeo copy ")),
        "{tool:#?}"
    );
    assert_eq!(
        tool.iter().filter(|c| c.contains("inspect --raw")).count(),
        4,
        "{tool:#?}"
    );
}

/// Issue 30: the pasted `rollout` script and the tool make the same calls (the variables file
/// written with the same content, the same `ansible-playbook`, the results read back) and end
/// the same way over the same wave documents: every device green (0), one rolled back (4),
/// one gone (3), a play that stopped before any wave (1). The tool alone asks
/// `ansible-inventory` and skopeo before it plans (what the printed plan shows as answered).
#[test]
fn pasted_rollout_scripts_end_as_the_tool_does() {
    let test = "pasted_rollout_scripts_end_as_the_tool_does";
    if !common::require_tool("jq", test) {
        return;
    }
    let dir = scratch("script-rollout");
    let bin = dir.join("bin");
    for d in ["bin", "tmp", "state", "work", "waves"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    write_stubs(&bin, &dir);
    let key = dir.join("id_ed25519");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\ntest fixture, not a key\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(
        dir.join("inventory.json"),
        serde_json::json!({
            "_meta": {"hostvars": {
                "edge-a": {"ansible_host": "192.0.2.10", "ansible_user": "core", "ansible_ssh_private_key_file": key.as_str()},
                "edge-b": {"ansible_host": "192.0.2.11", "ansible_port": 2222, "ansible_ssh_private_key_file": key.as_str()},
            }},
            "all": {"children": ["ungrouped", "edge"]},
            "edge": {"hosts": ["edge-b", "edge-a"]},
        })
        .to_string(),
    )
    .unwrap();
    let inventory = dir.join("hosts.ini");
    std::fs::write(&inventory, "# read through the ansible-inventory stub\n").unwrap();
    // the registry's list (write_stubs's skopeo): amd64 2222..., arm64 3333...
    const OLD: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const AMD: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    let upgrade = |verdict: &str, after: &str| {
        serde_json::json!({"device": {
            "verdict": verdict,
            "before": {"booted_digest": OLD, "architecture": "amd64"},
            "after": {"booted_digest": after, "architecture": "amd64"},
        }})
        .to_string()
    };
    let doc = |host: &str, rc: i64, stdout: String| {
        serde_json::json!({"batch": [host], "results": {host: {
            "rc": rc, "start": "", "end": "", "delta": "0:00:05.000000", "stdout": stdout, "stderr": [], "msg": ""
        }}})
        .to_string()
    };
    // name, each wave's document, whether the play failed, the exit code both end with
    type Scenario = (&'static str, Vec<String>, bool, i32);
    let scenarios: Vec<Scenario> = vec![
        (
            "green",
            vec![
                doc("edge-a", 0, upgrade("upgraded", AMD)),
                doc("edge-b", 0, upgrade("already_current", AMD)),
            ],
            false,
            0,
        ),
        (
            "rolled back",
            vec![
                doc("edge-a", 0, upgrade("upgraded", AMD)),
                doc("edge-b", 4, upgrade("rolled_back", OLD)),
            ],
            true,
            4,
        ),
        (
            "gone",
            vec![
                doc("edge-a", 0, upgrade("upgraded", AMD)),
                doc("edge-b", 3, upgrade("timed_out", OLD)),
            ],
            true,
            3,
        ),
        ("no wave ran", vec![], true, 1),
    ];
    let args = [
        "rollout",
        "--inventory",
        inventory.as_str(),
        "--image",
        "quay.io/org/edge:v2",
    ];
    let xtask = |extra: &[&str]| {
        let mut c = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        c.args(extra)
            .args(args)
            .env("STUB_DIR", dir.as_str())
            .env("TMPDIR", dir.join("tmp").as_str())
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        c
    };
    let calls = || -> Vec<String> {
        std::fs::read_to_string(dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let script = Ran::of(xtask(&["--dry-run"]).output().unwrap()).ok().stdout;
    for (name, waves, failed, code) in scenarios {
        let set_up = || {
            let _ = std::fs::remove_dir_all(dir.join("waves"));
            std::fs::create_dir_all(dir.join("waves")).unwrap();
            for (i, w) in waves.iter().enumerate() {
                std::fs::write(dir.join(format!("waves/{i}.json")), w).unwrap();
            }
            let flag = dir.join("play-failed");
            if failed {
                std::fs::write(&flag, "").unwrap();
            } else {
                let _ = std::fs::remove_file(&flag);
            }
            let _ = std::fs::remove_file(dir.join("calls.log"));
        };
        set_up();
        let pasted = Ran::of(
            std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(dir.join("work"))
                .env_clear()
                .env("PATH", format!("{bin}:/usr/bin:/bin"))
                .env("STUB_DIR", dir.as_str())
                .env("TMPDIR", dir.join("tmp").as_str())
                .output()
                .unwrap(),
        );
        let script_calls = calls();
        set_up();
        let tool = Ran::of(xtask(&[]).output().unwrap());
        // what the tool asks before it plans, and the printed plan shows answered
        let tool_calls: Vec<String> = calls()
            .into_iter()
            .filter(|c| !c.starts_with("ansible-inventory ") && !c.starts_with("skopeo "))
            .collect();
        assert_eq!(
            (pasted.code, tool.code),
            (code, code),
            "{name}: the pasted script and the tool ended differently\n--- script stderr:\n{}\n--- tool stderr:\n{}\n--- script:\n{script}",
            pasted.stderr,
            tool.stderr
        );
        assert_eq!(
            script_calls, tool_calls,
            "{name}: the printed plan and the tool ran different commands\n--- script:\n{script}"
        );
        assert!(
            tool_calls
                .iter()
                .any(|c| c.starts_with("ansible-playbook -i "))
                && tool_calls.iter().any(|c| c.starts_with("install-content ")),
            "{tool_calls:?}"
        );
        if code != 0 {
            // both say the counts, as the tool's report ends
            for out in [&pasted.stderr, &tool.stderr] {
                assert!(out.contains("error: 2 devices: "), "{name}: {out}");
            }
        }
    }
}

/// Issue 33: the pasted `bundle` script makes what the tool makes. A registry of stubs
/// (skopeo answers with a two-architecture list of small images built here byte by byte,
/// and copies an image by writing its OCI layout; df says there is room), and everything
/// else real: sh and the verifier making the manifest, gpg signing it with a throwaway key,
/// the verifier checking the whole. Both runs copy the same images by digest, and leave the
/// same bundle (its manifest the same but for when it was made), signed and verified; a
/// re-run replaces the bundle. The verifier's sigstore branch (a device whose image carries a
/// sigstore key: openssl over cosign's base64 signature) is checked here too with an ECDSA
/// key openssl makes, since Debian has no cosign to make one.
#[test]
fn pasted_bundle_scripts_make_what_the_tool_makes() {
    let test = "pasted_bundle_scripts_make_what_the_tool_makes";
    for tool in ["jq", "gpg", "gpgv", "sha256sum"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let dir = scratch("script-bundle");
    let bin = dir.join("bin");
    let reg = dir.join("registry");
    for d in ["bin", "tmp", "work", "registry"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "xtask bundle test").unwrap();
    let (amd, amd_digest) = common::oci_layout(&reg.join("amd64"), "amd64", "v2");
    let (arm, arm_digest) = common::oci_layout(&reg.join("arm64"), "arm64", "v2");
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_digest, "size": amd.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_digest, "size": arm.len(), "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    })
    .to_string();
    let list_digest = xtask::digest::digest(list.as_bytes());
    std::fs::write(reg.join("list.json"), &list).unwrap();
    std::fs::write(reg.join(&amd_digest), &amd).unwrap();
    std::fs::write(reg.join(&arm_digest), &arm).unwrap();
    // TEST FIXTURE: a registry as skopeo reaches it, and a disk with room
    common::write_executable(
        &bin.join("skopeo"),
        &format!(
            r#"#!/bin/sh
echo "skopeo $*" >>"{dir}/calls.log"
last=$(eval echo \${{$#}})
case "$*" in
  *"inspect --raw"*"@sha256:"*) printf '%s' "$(cat "{reg}/${{last##*@}}")" ;;
  *"inspect --raw"*) printf '%s' "$(cat "{reg}/list.json")" ;;
  *"copy "*)
    src=$(eval echo \${{$(($# - 1))}})
    d=${{src##*@}}
    if [ "$d" = "{amd_digest}" ]; then a=amd64; else a=arm64; fi
    cp -r "{reg}/$a" "${{last#oci:}}" ;;
  *) exit 1 ;;
esac
"#,
            dir = dir,
            reg = reg,
        ),
    );
    common::write_executable(
        &bin.join("df"),
        &format!(
            "#!/bin/sh\necho \"df $*\" >>\"{dir}/calls.log\"\necho Avail; echo 999999999999\n"
        ),
    );
    // the stick, mounted
    std::fs::create_dir_all(dir.join("work/stick")).unwrap();
    let to = dir.join("work/stick/microshift-bundle");
    let args = [
        "bundle",
        "--to",
        to.as_str(),
        "--image",
        "quay.io/xtask-script/os:v2",
        "--microshift-version",
        "4.17",
        "--sign-method",
        "gpg",
        "--sign-by",
        fpr.as_str(),
        "--sign-public-key",
        public.as_str(),
    ];
    let path = format!("{bin}:/usr/bin:/bin");
    let xtask = |extra: &[&str]| {
        let mut c = common::isolated_xtask(&path);
        c.args(extra)
            .args(args)
            .env("GNUPGHOME", home.as_str())
            .env("TMPDIR", dir.join("tmp").as_str());
        common::with_fixture_secrets(&mut c);
        Ran::of(c.output().unwrap())
    };
    let calls = || -> Vec<String> {
        std::fs::read_to_string(dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let manifest = || -> serde_json::Value {
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(to.join("bundle.json")).unwrap())
                .unwrap();
        m["created"] = serde_json::json!("[created]");
        m
    };
    let verify = || {
        Ran::of(
            std::process::Command::new("sh")
                .arg(
                    repo_root()
                        .join(xtask::commands::build::USB_SCRIPT)
                        .as_str(),
                )
                .args([
                    "verify",
                    "--key",
                    public.as_str(),
                    "--method",
                    "gpg",
                    to.as_str(),
                ])
                .output()
                .unwrap(),
        )
    };
    let script = xtask(&["--dry-run"]).ok().stdout;
    // the tool read the list and each image's manifest before it planned; the script does not
    let _ = std::fs::remove_file(dir.join("calls.log"));
    let pasted = Ran::of(
        std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.join("work"))
            .env_clear()
            .env("PATH", &path)
            .env("GNUPGHOME", home.as_str())
            .env("TMPDIR", dir.join("tmp").as_str())
            .output()
            .unwrap(),
    );
    assert_eq!(
        pasted.code, 0,
        "the pasted script failed:\n{}\n--- script:\n{script}",
        pasted.stderr
    );
    let script_calls = calls();
    let script_manifest = manifest();
    verify().ok();
    let _ = std::fs::remove_file(dir.join("calls.log"));
    // the tool, over the pasted script's bundle: replaced
    let tool = xtask(&[]).ok();
    let tool_calls: Vec<String> = calls()
        .into_iter()
        .filter(|c| !c.starts_with("skopeo inspect "))
        .collect();
    assert_eq!(script_calls, tool_calls, "--- script:\n{script}");
    assert_eq!(script_manifest, manifest());
    verify().ok();
    assert!(tool.stderr.contains("ok: bundle "), "{}", tool.stderr);
    let m = manifest();
    assert_eq!(m["format"], "xtask-bundle/1");
    assert_eq!(m["image"], format!("quay.io/xtask-script/os@{list_digest}"));
    assert_eq!(m["microshift_version"], "4.17");
    assert_eq!(m["images"][0]["digest"], amd_digest);
    assert_eq!(m["images"][1]["digest"], arm_digest);
    assert!(
        tool_calls.iter().any(|c| c == &format!("skopeo copy --preserve-digests --remove-signatures --retry-times 3 --authfile {} docker://quay.io/xtask-script/os@{amd_digest} oci:{}/amd64", repo_root().join("tests/fixtures/registry-auth.json"), dir.join("work/stick/.microshift-bundle.part"))),
        "{tool_calls:#?}"
    );
    // no partial directory is left
    assert!(!dir.join("work/stick/.microshift-bundle.part").exists());

    // the sigstore branch of the verifier: cosign's signature is a base64 ECDSA P-256
    // signature over the manifest's SHA-256
    if common::require_tool("openssl", test) {
        let key = dir.join("ec.key");
        let pem = dir.join("ec.pub");
        let openssl = |args: &[&str]| {
            Ran::of(
                std::process::Command::new("openssl")
                    .args(args)
                    .output()
                    .unwrap(),
            )
            .ok()
        };
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            key.as_str(),
        ]);
        openssl(&["ec", "-in", key.as_str(), "-pubout", "-out", pem.as_str()]);
        let der = std::process::Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-sign",
                key.as_str(),
                to.join("bundle.json").as_str(),
            ])
            .output()
            .unwrap()
            .stdout;
        let b64 = Ran::of({
            use std::io::Write;
            let mut c = std::process::Command::new("base64")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(&der).unwrap();
            c.wait_with_output().unwrap()
        })
        .ok()
        .stdout;
        std::fs::write(to.join("bundle.json.sig"), b64).unwrap();
        let sigstore = |key: &str| {
            Ran::of(
                std::process::Command::new("sh")
                    .arg(
                        repo_root()
                            .join(xtask::commands::build::USB_SCRIPT)
                            .as_str(),
                    )
                    .args(["verify", "--key", key, "--method", "sigstore", to.as_str()])
                    .output()
                    .unwrap(),
            )
        };
        sigstore(pem.as_str()).ok();
        // the gpg key is no sigstore key; and a changed manifest has no good signature
        assert_eq!(sigstore(public.as_str()).code, 1);
        let mut text = std::fs::read_to_string(to.join("bundle.json")).unwrap();
        text = text.replace("4.17", "4.18");
        std::fs::write(to.join("bundle.json"), text).unwrap();
        let refused = sigstore(pem.as_str());
        assert_eq!(refused.code, 1);
        assert!(
            refused.stderr.contains("no good signature"),
            "{}",
            refused.stderr
        );
    }
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Review of issue 33: `bundle --to` a stick as it comes (FAT32, vfat) with a layer of 4 GiB
/// or more in the release (an `--embed` image's layer of workload images, say) is refused
/// before anything is written: vfat holds no file that large, and the copy failed half way,
/// after gigabytes. A layer under 4 GiB, or another file system, goes on.
/// TEST FIXTURE: skopeo answers as a registry with a one-architecture list whose image has a
/// layer of `$LAYER` bytes; stat says the file system is vfat (`msdos`) and df that it has
/// room. Real tools ask the registry and the kernel.
#[test]
fn bundle_refuses_a_vfat_stick_for_a_layer_of_4_gib() {
    let test = "bundle_refuses_a_vfat_stick_for_a_layer_of_4_gib";
    if !common::require_tool("gpg", test) {
        return;
    }
    let dir = scratch("bundle-vfat");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(dir.join("stick")).unwrap();
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "bundle vfat test").unwrap();
    let amd = format!("sha256:{}", "2".repeat(64));
    common::write_executable(
        &bin.join("skopeo"),
        &format!(
            r#"#!/bin/sh
case "$*" in
  *"inspect --raw"*"@sha256:"*) echo '{{"schemaVersion":2,"config":{{"size":1000}},"layers":[{{"size":'"$LAYER"'}}]}}' ;;
  *"inspect --raw"*) echo '{{"schemaVersion":2,"manifests":[{{"digest":"{amd}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}' ;;
  *) exit 1 ;;
esac
"#
        ),
    );
    common::write_executable(&bin.join("stat"), "#!/bin/sh\necho \"${FS:-msdos}\"\n");
    common::write_executable(
        &bin.join("df"),
        "#!/bin/sh\necho Avail; echo 999999999999\n",
    );
    let to = dir.join("stick/microshift-bundle");
    let bundle = |layer: u64, fs: &str| {
        let mut c = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
        c.args(["--dry-run", "bundle", "--to", to.as_str()])
            .args(["--image", "quay.io/x/os:v2", "--arch", "amd64"])
            .args(["--microshift-version", "4.17", "--sign-method", "gpg"])
            .args(["--sign-by", &fpr, "--sign-public-key", public.as_str()])
            .env("GNUPGHOME", home.as_str())
            .env("LAYER", layer.to_string())
            .env("FS", fs);
        common::with_fixture_secrets(&mut c);
        Ran::of(c.output().unwrap())
    };
    let refused = bundle(5 << 30, "msdos");
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--to")
            && refused.stderr.contains("vfat")
            && refused.stderr.contains("exfat"),
        "{}",
        refused.stderr
    );
    assert_eq!(refused.stdout, "", "a plan was printed");
    bundle(3 << 30, "msdos").ok();
    bundle(5 << 30, "exfat").ok();
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// The device's verifier (`containerfiles/usb/microshift-usb-update`) run here with
/// stand-ins: a signed bundle of one small amd64 image at `to` (its `note` makes the image
/// another), its digest.
fn verifier_bundle(to: &Utf8Path, home: &Utf8Path, fpr: &str, note: &str) -> String {
    let (_, digest) = common::oci_layout(&to.join("amd64"), "amd64", note);
    Ran::of(
        std::process::Command::new("sh")
            .arg(
                repo_root()
                    .join(xtask::commands::build::USB_SCRIPT)
                    .as_str(),
            )
            .args(["manifest", to.as_str()])
            .arg(format!("quay.io/x/os@{digest}"))
            .args([digest.as_str(), "4.16"])
            .arg(format!("amd64={digest}"))
            .output()
            .unwrap(),
    )
    .ok();
    let signed = std::process::Command::new("gpg")
        .env("GNUPGHOME", home.as_str())
        .args(["--batch", "--yes", "--local-user", fpr, "--detach-sign"])
        .args(["--output", to.join("bundle.json.sig").as_str()])
        .arg(to.join("bundle.json").as_str())
        .status()
        .unwrap();
    assert!(signed.success());
    digest
}

/// The verifier's settings (a device's, with its state and mounts under `dir`), and its
/// stand-ins in `dir/bin`, ahead of the host's programs on the PATH it returns.
/// TEST FIXTURE: bootc as far as the verifier asks it: `status` says the device runs
/// another amd64 image (`$BOOTED` if given), its rollback deployment `$ROLLBACK` if given
/// (and, on its `$SLOW_CALL`th call, says it is there, `dir/slow`, and
/// waits for `dir/go`: the test acts meanwhile); `switch` is recorded in `dir/bootc.log`,
/// never run. A real bootc pulls the layout into ostree and stages it.
fn verifier_device(dir: &Utf8Path, public: &Utf8Path) -> (Utf8PathBuf, String) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!("METHOD=gpg\nKEY={public}\nSTATE={dir}/state\nMOUNTS={dir}/mounts\n"),
    )
    .unwrap();
    common::write_executable(
        &bin.join("bootc"),
        &format!(
            r#"#!/bin/sh
case "$1" in
status)
  n=$(($(cat "{dir}/status-calls" 2>/dev/null || echo 0) + 1))
  echo $n >"{dir}/status-calls"
  if [ "$n" = "${{SLOW_CALL:-}}" ]; then
    touch "{dir}/slow"
    i=0; while [ ! -e "{dir}/go" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  fi
  rollback=null
  [ -z "${{ROLLBACK:-}}" ] || rollback="{{\"image\":{{\"imageDigest\":\"$ROLLBACK\"}}}}"
  echo '{{"status":{{"booted":{{"image":{{"architecture":"amd64","imageDigest":"'"${{BOOTED:-sha256:0000000000000000000000000000000000000000000000000000000000000000}}"'"}}}},"rollback":'"$rollback"'}}}}' ;;
*) echo "$*" >>"{dir}/bootc.log" ;;
esac
"#
        ),
    );
    (config, format!("{bin}:/usr/bin:/bin"))
}

/// TEST FIXTURE: blkid, mount, mountpoint and umount for the verifier's `device`, in
/// `dir/bin`: every device carries the label, on a vfat file system (`$STICK_FS` if
/// given); "mounting" a device copies its stick's files (`dir/sticks/NAME`) onto the mount
/// point (logged in `dir/mounts.log`: the mount point, the device, `-t`'s type). A real host
/// reads the label and type from the file system and mounts it read-only.
fn verifier_sticks(dir: &Utf8Path) {
    let bin = dir.join("bin");
    common::write_executable(
        &bin.join("blkid"),
        "#!/bin/sh\n# blkid -o value -s LABEL|TYPE DEVICE\ncase \"$4\" in LABEL) echo MS-UPDATE ;; TYPE) echo \"${STICK_FS:-vfat}\" ;; esac\n",
    );
    common::write_executable(
        &bin.join("mount"),
        &format!(
            r#"#!/bin/sh
# mount [-t TYPE] -o OPTIONS DEVICE DIR
type=
while [ $# -gt 2 ]; do
  case $1 in -t) type=$2; shift 2 ;; *) shift ;; esac
done
echo "$2 $1 $type" >>"{dir}/mounts.log"
cp -a "{dir}/sticks/${{1##*/}}/." "$2/" && touch "$2.mounted"
"#
        ),
    );
    common::write_executable(
        &bin.join("mountpoint"),
        "#!/bin/sh\n# mountpoint -q DIR\n[ -e \"$2.mounted\" ]\n",
    );
    common::write_executable(
        &bin.join("umount"),
        "#!/bin/sh\n[ -e \"$1.mounted\" ] || exit 32\nfind \"$1\" -mindepth 1 -delete && rm -f \"$1.mounted\"\n",
    );
}

/// `n` of this host's block devices, by kernel name (`device` checks /dev/NAME is one;
/// nothing reads or mounts them); `None` when there are fewer (in CI a failure).
fn block_devices(test: &str, n: usize) -> Option<Vec<String>> {
    let mut devices: Vec<String> = std::fs::read_dir("/sys/class/block")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric()))
                .filter(|n| {
                    use std::os::unix::fs::FileTypeExt;
                    std::fs::metadata(format!("/dev/{n}"))
                        .is_ok_and(|m| m.file_type().is_block_device())
                })
                .collect()
        })
        .unwrap_or_default();
    devices.sort();
    if devices.len() < n {
        assert!(
            !common::in_ci(),
            "{test}: this host has fewer than {n} block devices in /dev, and CI must run this test"
        );
        eprintln!("SKIPPED {test}: this host has fewer than {n} block devices in /dev");
        return None;
    }
    devices.truncate(n);
    Some(devices)
}

/// Wait (at most 30 s) until `ready` says yes.
fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(start.elapsed().as_secs() < 30, "waited 30 s for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Review of issue 33: a verifier stopped mid-way (the stick pulled: its unit is bound to
/// the device, and systemd stops it; or `systemctl stop`) removes its partial copy from
/// /var and says so in the result file, nothing staged. (Before: under dash a signal ran no
/// EXIT trap, and the copy, up to the bundle's size, stayed in STATE/incoming until the next
/// stick; the result file still told of the update before, under any shell.)
#[test]
fn a_stopped_verifier_leaves_no_partial_copy() {
    let test = "a_stopped_verifier_leaves_no_partial_copy";
    for tool in ["jq", "gpg", "gpgv", "sha256sum", "flock"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let dir = scratch("verifier-stopped");
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "verifier stop test").unwrap();
    let stick = dir.join("stick/microshift-bundle");
    verifier_bundle(&stick, &home, &fpr, "v2");
    let (config, path) = verifier_device(&dir, &public);
    let state = dir.join("state");
    // an earlier update's result, which a stopped run must not leave standing
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("result.json"), r#"{"result": "staged"}"#).unwrap();
    use std::os::unix::process::CommandExt;
    // the second question to bootc comes once the copy in /var is whole and checked
    let mut run = std::process::Command::new("sh")
        .arg(
            repo_root()
                .join(xtask::commands::build::USB_SCRIPT)
                .as_str(),
        )
        .args(["stage", stick.as_str()])
        .env("MICROSHIFT_USB_UPDATE_CONFIG", config.as_str())
        .env("PATH", &path)
        .env("SLOW_CALL", "2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for("the verifier's copy", || dir.join("slow").exists());
    assert!(state.join("incoming/work/bundle.json").is_file());
    // as systemd stops a unit: SIGTERM to all its processes
    let killed = std::process::Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", run.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = run.wait().unwrap();
    let mut stderr = String::new();
    use std::io::Read;
    run.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        !state.join("incoming/work").exists(),
        "a partial copy is left in {state}/incoming/work\n{stderr}"
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["result"], "refused", "{result}");
    assert!(
        result["reason"].as_str().unwrap().contains("stopped"),
        "{result}"
    );
    assert!(stderr.contains("nothing staged"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(state.join("images")).unwrap().count(),
        0,
        "something was staged"
    );
    assert!(!dir.join("bootc.log").exists(), "bootc switch was called");
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Review of issue 33: the verifier counts, besides its verified copy of a bundle, bootc's
/// import of it into ostree (in /sysroot, the file system /var is on): three times its bytes,
/// at least 1 GiB, as `upgrade` counts a pull. A device with room for the copy only is
/// refused before anything is copied, and its `check` says it is not ready. (Before: the
/// copy and 64 MiB were all it asked for, and bootc's import then filled /var, where
/// MicroShift's etcd lives.)
/// TEST FIXTURE: df says /var has 100 MiB free; a real df says what the file system has.
#[test]
fn the_verifier_counts_bootcs_import() {
    let test = "the_verifier_counts_bootcs_import";
    for tool in ["jq", "gpg", "gpgv", "sha256sum", "flock"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let dir = scratch("verifier-room");
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "verifier room test").unwrap();
    let stick = dir.join("stick/microshift-bundle");
    verifier_bundle(&stick, &home, &fpr, "v2");
    let (config, path) = verifier_device(&dir, &public);
    common::write_executable(
        &dir.join("bin/df"),
        "#!/bin/sh
echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'
echo '/dev/vda4 10485760 10383360 102400 99% /var'\n",
    );
    let verifier = |args: &[&str]| {
        Ran::of(
            std::process::Command::new("sh")
                .arg(
                    repo_root()
                        .join(xtask::commands::build::USB_SCRIPT)
                        .as_str(),
                )
                .args(args)
                .env("MICROSHIFT_USB_UPDATE_CONFIG", config.as_str())
                .env("PATH", &path)
                .output()
                .unwrap(),
        )
    };
    let staged = verifier(&["stage", stick.as_str()]);
    assert_eq!(staged.code, 1, "{}", staged.stderr);
    assert!(
        staged.stderr.contains("bootc's import of it"),
        "{}",
        staged.stderr
    );
    assert!(!dir.join("bootc.log").exists(), "bootc switch was called");
    assert!(!dir.join("state/incoming/work").exists());
    let checked = verifier(&["check", "4096"]);
    assert_eq!(checked.code, 1, "{}", checked.stderr);
    let doc: serde_json::Value = serde_json::from_str(&checked.stdout).unwrap();
    assert_eq!(doc["ready"], false, "{doc}");
    assert_eq!(
        doc["needs_bytes"],
        2 * 4096 + (1u64 << 30) + (64 << 20),
        "{doc}"
    );
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Review of issue 33: a stick left in is seen again at every boot (udev's coldplug). Its
/// image, once the device rolled back from it (greenboot found it unhealthy), is not staged
/// again by the stick: with `usb_updates.apply: now` the device would loop between the two
/// images, rebooting. An operator's `stage` (`upgrade --from-bundle`) still stages it. And a
/// stick of the image the device runs is known for it before anything is copied: a blob
/// missing from it does not matter. (Before: the stick staged the rolled-back image again
/// at every boot, and a stick of the running image was copied whole each time first.)
#[test]
fn a_stick_left_in_stages_no_image_the_device_rolled_back_from() {
    let test = "a_stick_left_in_stages_no_image_the_device_rolled_back_from";
    for tool in ["jq", "gpg", "gpgv", "sha256sum", "flock"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let Some(devices) = block_devices(test, 1) else {
        return;
    };
    let dir = scratch("verifier-left-in");
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "verifier left-in test").unwrap();
    let stick = dir
        .join("sticks")
        .join(&devices[0])
        .join("microshift-bundle");
    let digest = verifier_bundle(&stick, &home, &fpr, "v3");
    let (config, path) = verifier_device(&dir, &public);
    verifier_sticks(&dir);
    let verifier = |args: &[&str], env: (&str, &str)| {
        Ran::of(
            std::process::Command::new("sh")
                .arg(
                    repo_root()
                        .join(xtask::commands::build::USB_SCRIPT)
                        .as_str(),
                )
                .args(args)
                .env("MICROSHIFT_USB_UPDATE_CONFIG", config.as_str())
                .env("PATH", &path)
                .env(env.0, env.1)
                .output()
                .unwrap(),
        )
    };
    let result = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("state/result.json")).unwrap())
            .unwrap()
    };
    // the device rolled back from the stick's image: the stick does not stage it
    let again = verifier(&["device", &devices[0]], ("ROLLBACK", &digest));
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        again.stderr.contains("rollback deployment"),
        "{}",
        again.stderr
    );
    assert_eq!(result()["result"], "refused");
    assert!(!dir.join("bootc.log").exists(), "bootc switch was called");
    // the operator's stage does
    let asked = verifier(&["stage", stick.as_str()], ("ROLLBACK", &digest));
    assert_eq!(asked.code, 0, "{}", asked.stderr);
    assert_eq!(result()["result"], "staged");
    std::fs::remove_file(dir.join("bootc.log")).unwrap();
    // the device runs the stick's image: current, known before a blob is copied
    let blob = std::fs::read_dir(stick.join("amd64/blobs/sha256"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(blob).unwrap();
    let current = verifier(&["device", &devices[0]], ("BOOTED", &digest));
    assert_eq!(current.code, 0, "{}", current.stderr);
    assert_eq!(result()["result"], "current", "{}", current.stderr);
    assert!(!dir.join("bootc.log").exists(), "bootc switch was called");
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Review of issue 33: the verifier mounts only the file systems update sticks carry (vfat,
/// exfat, ext4, xfs), named to mount with `-t`: a stick with any other (say hfsplus) is
/// refused before the kernel parses it. (Before: whatever the stick held was mounted, as
/// root, the kernel guessing its type.)
#[test]
fn a_stick_of_another_file_system_is_not_mounted() {
    let test = "a_stick_of_another_file_system_is_not_mounted";
    for tool in ["jq", "gpg", "gpgv", "sha256sum", "flock"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let Some(devices) = block_devices(test, 1) else {
        return;
    };
    let dir = scratch("verifier-file-systems");
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "verifier fs test").unwrap();
    let stick = dir
        .join("sticks")
        .join(&devices[0])
        .join("microshift-bundle");
    verifier_bundle(&stick, &home, &fpr, "v2");
    let (config, path) = verifier_device(&dir, &public);
    verifier_sticks(&dir);
    let device = |fs: &str| {
        Ran::of(
            std::process::Command::new("sh")
                .arg(
                    repo_root()
                        .join(xtask::commands::build::USB_SCRIPT)
                        .as_str(),
                )
                .args(["device", &devices[0]])
                .env("MICROSHIFT_USB_UPDATE_CONFIG", config.as_str())
                .env("PATH", &path)
                .env("STICK_FS", fs)
                .output()
                .unwrap(),
        )
    };
    let mounts = || std::fs::read_to_string(dir.join("mounts.log")).unwrap_or_default();
    let odd = device("hfsplus");
    assert_eq!(odd.code, 1, "{}", odd.stderr);
    assert!(odd.stderr.contains("'hfsplus'"), "{}", odd.stderr);
    assert_eq!(mounts(), "", "a stick of another file system was mounted");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state/result.json")).unwrap())
            .unwrap();
    assert_eq!(result["result"], "refused");
    // a vfat stick: mounted as vfat, staged
    let good = device("vfat");
    assert_eq!(good.code, 0, "{}", good.stderr);
    assert!(mounts().trim_end().ends_with(" vfat"), "{}", mounts());
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Review of issue 33: a device whose clock is behind (no network, so no NTP, and its RTC
/// reset: a flat battery) verifies a bundle signed with a key made "in the future" for it:
/// the key is the trust, not the time, and the stick is the only way such a device is
/// updated. (Before: gpgv refused the key as "created in the future", and every bundle
/// with it: "Can't check signature: Bad public key".) The key here is made a year ahead of
/// this host's clock, which is the same to gpgv.
#[test]
fn a_device_whose_clock_is_behind_verifies_a_bundle() {
    let test = "a_device_whose_clock_is_behind_verifies_a_bundle";
    for tool in ["jq", "gpg", "gpgv", "sha256sum", "flock"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let dir = scratch("verifier-clock");
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    // the signer's own clock is right: its gpg signs with the key all the same
    std::fs::write(home.join("gpg.conf"), "ignore-time-conflict\n").unwrap();
    let ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 365 * 86400;
    let gpg = |args: &[&str]| {
        let out = std::process::Command::new("gpg")
            .env("GNUPGHOME", home.as_str())
            .args(["--batch", "--quiet"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    gpg(&[
        "--faked-system-time",
        &format!("{ahead}!"),
        "--passphrase",
        "",
        "--quick-gen-key",
        "verifier clock test",
        "ed25519",
        "sign",
        "never",
    ]);
    let fpr = gpg(&["--with-colons", "--list-secret-keys"])
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .unwrap()
        .split(':')
        .nth(9)
        .unwrap()
        .to_string();
    let public = dir.join("public.gpg");
    gpg(&["--yes", "--output", public.as_str(), "--export", &fpr]);
    let stick = dir.join("stick/microshift-bundle");
    let digest = verifier_bundle(&stick, &home, &fpr, "v2");
    let (config, path) = verifier_device(&dir, &public);
    let staged = Ran::of(
        std::process::Command::new("sh")
            .arg(
                repo_root()
                    .join(xtask::commands::build::USB_SCRIPT)
                    .as_str(),
            )
            .args(["stage", stick.as_str()])
            .env("MICROSHIFT_USB_UPDATE_CONFIG", config.as_str())
            .env("PATH", &path)
            .output()
            .unwrap(),
    );
    assert_eq!(staged.code, 0, "{}", staged.stderr);
    assert!(
        staged.stderr.contains(&format!("staged {digest}")),
        "{}",
        staged.stderr
    );
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// Review of issue 33: two update sticks at once (two sticks plugged together, or a stick
/// with two partitions of the label): each unit mounts its own on a directory of its own and
/// they are staged one after the other, each its own bundle. (Before: both mounted on
/// /run/microshift-usb-update/stick; the second unmounted the first's stick while its
/// verifier ran and mounted its own there, so the first staged the second's bundle under
/// the first's name, and then unmounted it under the second, which found no bundle.)
/// The stand-ins: [`verifier_sticks`], [`verifier_device`].
#[test]
fn two_sticks_at_once_are_staged_each_its_own() {
    let test = "two_sticks_at_once_are_staged_each_its_own";
    for tool in ["jq", "gpg", "gpgv", "sha256sum", "flock"] {
        if !common::require_tool(tool, test) {
            return;
        }
    }
    let Some(devices) = block_devices(test, 2) else {
        return;
    };
    let dir = scratch("verifier-two-sticks");
    let (home, fpr, public) = common::gpg_key(&dir.join("gnupg"), "verifier sticks test").unwrap();
    let (first, second) = (&devices[0], &devices[1]);
    let first_digest = verifier_bundle(
        &dir.join("sticks").join(first).join("microshift-bundle"),
        &home,
        &fpr,
        "v2",
    );
    let second_digest = verifier_bundle(
        &dir.join("sticks").join(second).join("microshift-bundle"),
        &home,
        &fpr,
        "v3",
    );
    let (config, path) = verifier_device(&dir, &public);
    verifier_sticks(&dir);
    let device = |name: &str| {
        std::process::Command::new("sh")
            .arg(
                repo_root()
                    .join(xtask::commands::build::USB_SCRIPT)
                    .as_str(),
            )
            .args(["device", name])
            .env("MICROSHIFT_USB_UPDATE_CONFIG", config.as_str())
            .env("PATH", &path)
            .env("SLOW_CALL", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // the first stick's verifier holds the lock (bootc asked, the test holds the answer)
    // while the second stick appears, is mounted, and waits for the lock
    let a = device(first);
    wait_for("the first stick's verifier", || dir.join("slow").exists());
    let b = device(second);
    let mounts = || std::fs::read_to_string(dir.join("mounts.log")).unwrap_or_default();
    wait_for("the second stick's mount", || mounts().lines().count() == 2);
    std::fs::write(dir.join("go"), "").unwrap();
    let a = Ran::of(a.wait_with_output().unwrap());
    let b = Ran::of(b.wait_with_output().unwrap());
    let log = std::fs::read_to_string(dir.join("bootc.log")).unwrap_or_default();
    let switched: Vec<&str> = log.lines().filter_map(|l| l.rsplit('/').next()).collect();
    assert_eq!(
        switched,
        [
            &first_digest["sha256:".len()..],
            &second_digest["sha256:".len()..]
        ],
        "each stick's own bundle, one after the other\nfirst: {}\nsecond: {}\nmounts: {}",
        a.stderr,
        b.stderr,
        mounts()
    );
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state/result.json")).unwrap())
            .unwrap();
    assert_eq!(result["result"], "staged");
    assert_eq!(result["digest"], second_digest.as_str());
    assert!(
        result["source"].as_str().unwrap().contains(second.as_str()),
        "{result}"
    );
    // each unmounted, its mount point gone
    assert_eq!(
        std::fs::read_dir(dir.join("mounts")).unwrap().count(),
        0,
        "{}",
        mounts()
    );
    let _ = std::process::Command::new("gpgconf")
        .env("GNUPGHOME", home.as_str())
        .args(["--kill", "gpg-agent"])
        .output();
}

/// A probe whose output is kept in a variable (`VAR=$(command)`) and whose outcome a later
/// step asks about (`upgrade --from-bundle`'s "is rsync here?"): the printed script keeps
/// its outcome too, as the tool does. (Before: the script never set it, and the step that
/// asked never ran.)
#[test]
fn a_captured_probe_keeps_its_outcome_in_the_script() {
    use xtask::plan::{Extract, Plan, Step, When};
    let mut plan = Plan::new("probe", true);
    plan.push(
        Step::new("here", "is it here?", "true")
            .probe()
            .capture("HERE", Extract::Trim),
    );
    plan.push(
        Step::new("gone", "is it gone?", "false")
            .probe()
            .capture("GONE", Extract::Trim),
    );
    plan.push(
        Step::new("yes", "when here", "echo")
            .arg("ran-when-here")
            .when(When::IfSucceeded("here")),
    );
    plan.push(
        Step::new("no", "when gone", "echo")
            .arg("ran-when-gone")
            .when(When::IfFailed("gone")),
    );
    let script = plan.render();
    let ran = Ran::of(
        std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap(),
    );
    assert_eq!(ran.code, 0, "{}\n{script}", ran.stderr);
    assert!(ran.stdout.contains("ran-when-here"), "{script}");
    assert!(ran.stdout.contains("ran-when-gone"), "{script}");
}

/// Issue 31: the pasted `rollout --flightctl` script (curl, the token as `${FLIGHTCTL_TOKEN}`
/// in a header file, jq judging each look) and the tool, each against a fresh stand-in
/// flightctl API (tests/flightctl/, a TEST FIXTURE that validates every request and
/// response against flightctl's OpenAPI document), send the same patches and end the same
/// way: every batch green (0), a device rolled back and the next batch waiting for approval
/// (4), a device lost until the timeout (3). The printed plan itself patches nothing.
#[test]
fn pasted_flightctl_scripts_end_as_the_tool_does() {
    use common::flightctl::{
        available, bin, device, scenario, Standin, OLD_AMD64, OLD_ARM64, REPO, TOKEN,
    };
    let test = "pasted_flightctl_scripts_end_as_the_tool_does";
    if !available(test) || !common::require_tool("jq", test) {
        return;
    }
    let batches = serde_json::json!({
        "deviceSelection": {"strategy": "BatchSequence", "sequence": [{"limit": 1}, {"limit": 1}]},
        "successThreshold": "100%",
    });
    let scenarios = vec![
        (
            "green",
            scenario(
                vec![
                    device("edge-1", "amd64", OLD_AMD64, "ok"),
                    device("edge-2", "arm64", OLD_ARM64, "ok"),
                ],
                None,
            ),
            vec!["--waves", "1,100%", "--max-failed", "0%"],
            0,
        ),
        (
            "rolled-back",
            scenario(
                vec![
                    device("edge-1", "amd64", OLD_AMD64, "ok"),
                    device("edge-2", "arm64", OLD_ARM64, "rollback"),
                    device("edge-3", "amd64", OLD_AMD64, "ok"),
                ],
                Some(batches),
            ),
            vec![],
            4,
        ),
        (
            "lost",
            scenario(
                vec![
                    device("edge-1", "amd64", OLD_AMD64, "ok"),
                    device("edge-2", "arm64", OLD_ARM64, "unknown"),
                ],
                None,
            ),
            vec!["--timeout", "3s"],
            3,
        ),
    ];
    std::thread::scope(|scope| {
        for (name, sc, extra, code) in &scenarios {
            scope.spawn(move || {
                let dir = scratch(&format!("script-flightctl-{name}"));
                let bin = bin(&dir);
                let xtask = |url: &str, dry: bool| {
                    let mut c = common::isolated_xtask(&format!("{bin}:/usr/bin:/bin"));
                    if dry {
                        c.arg("--dry-run");
                    }
                    c.args(["rollout", "--flightctl", "edge", "--api", url, "--image"])
                        .arg(format!("{REPO}:v2"))
                        .args(["--interval", "1s"])
                        .args(extra.iter().copied())
                        .env("FLIGHTCTL_TOKEN", TOKEN)
                        .env("XTASK_STATE_DIR", dir.join("state").as_str());
                    common::with_fixture_secrets(&mut c);
                    Ran::of(c.output().unwrap())
                };
                let api = Standin::start(&dir.join("api-script"), sc, None);
                let script = xtask(&api.url, true).ok().stdout;
                assert!(
                    api.patches().is_empty(),
                    "{name}: the printed plan patched the fleet"
                );
                assert!(!script.contains(TOKEN), "{name}: the token is in the plan");
                let pasted = Ran::of(
                    std::process::Command::new("bash")
                        .arg("-c")
                        .arg(&script)
                        .env_clear()
                        .env("PATH", "/usr/bin:/bin")
                        .env("FLIGHTCTL_TOKEN", TOKEN)
                        .output()
                        .unwrap(),
                );
                let script_patches = api.patches();
                assert_eq!(api.violations(), "", "{name}: the script broke the OpenAPI document");
                drop(api);
                let api = Standin::start(&dir.join("api-tool"), sc, None);
                let tool = xtask(&api.url, false);
                assert_eq!(
                    (pasted.code, tool.code),
                    (*code, *code),
                    "{name}: the pasted script and the tool ended differently\n--- script stderr:\n{}\n--- tool stderr:\n{}\n--- script:\n{script}",
                    pasted.stderr,
                    tool.stderr
                );
                assert_eq!(
                    script_patches,
                    api.patches(),
                    "{name}: the printed plan and the tool patched differently"
                );
                assert_eq!(script_patches.len(), 1, "{name}");
                assert_eq!(api.violations(), "", "{name}: the tool broke the OpenAPI document");
                if *code != 0 {
                    // both say the counts, as the tool's report ends
                    for out in [&pasted.stderr, &tool.stderr] {
                        assert!(out.contains(" devices: "), "{name}: {out}");
                    }
                }
            });
        }
    });
}
