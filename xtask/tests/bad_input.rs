//! Bad input, table-driven: every case gets one `error:` line naming the flag and the value,
//! exit code 2, no plan on stdout, no panic or backtrace, and nothing run — checked with a
//! PATH of stubs that record every call.

mod common;

use camino::Utf8Path;
use common::{fake_iso, repo_root, scratch};

fn stubs(dir: &Utf8Path, log: &Utf8Path) {
    for s in common::HOST_PROGRAMS {
        let path = dir.join(s);
        std::fs::write(&path, format!("#!/bin/sh\necho \"{s} $*\" >> {log}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

struct Case {
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Substrings the one error line must hold: the flag, and the value.
    expect: Vec<String>,
    /// A secret a real run needs: a preview (`--dry-run`) is not refused, and says what is
    /// missing (the same substrings, in its output) instead.
    preview_ok: bool,
}

fn case(args: &[&str], expect: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
        preview_ok: false,
    }
}

/// A case whose missing input is a secret: refused when run, said by a preview.
fn secret_case(mut c: Case) -> Case {
    c.preview_ok = true;
    c
}

fn with_env(mut c: Case, env: &[(&str, &str)]) -> Case {
    c.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let dir = scratch("bad-input");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    stubs(&bin, &log);
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string()
    };
    let broken_json = file("broken.json", "{\"auths\": {");
    let no_auths = file("noauths.json", "{\"credHelpers\": {}}");
    let two_lines = file("two-lines.txt", "first\nsecond\n");
    // token files as they should be kept (0600), and one others can read
    let private = |name: &str, text: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = file(name, text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    };
    let empty_token = private("empty-token", "");
    let two_line_token = private("two-line-token", "first\nsecond\n");
    let shared_token = file("shared-token", "a-token\n");
    // as an editor may save it: a byte-order mark first, CRLF last
    let bom_token = private("bom-token", "\u{feff}eyJhbGciOiJSUzI1NiJ9.e30.c2ln\r\n");
    let empty = file("empty.txt", "");
    let bad_config = file(
        "bad-config.json",
        "{\"image_name\": \"x\", \"registy_url\": \"quay.io\"}",
    );
    let arm_iso = dir.join("arm.iso");
    fake_iso(&arm_iso, "RHEL-9-4-0-BaseOS-aarch64");
    let arm_iso = arm_iso.to_string();
    let comma_iso = dir.join("a,b.iso");
    fake_iso(&comma_iso, "RHEL-9-4-0-BaseOS-aarch64");
    let comma_iso = comma_iso.to_string();
    let victim = file("victim.txt", "not yours");
    let host_config = file(
        "host-config.json",
        r#"{"device": {"host": "edge:x$(id):22"}}"#,
    );
    let pull_config = file(
        "pull-config.json",
        r#"{"device": {"pull_timeout": "2 days"}}"#,
    );
    let missing_key = dir.join("no-such-key").to_string();
    let public_key = file(
        "id.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey user@host\n",
    );
    let open_key = file(
        "open_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\ntest fixture, not a key\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let planted_link = dir.join("planted.ks");
    std::os::unix::fs::symlink(&victim, &planted_link).unwrap();
    let planted_link = planted_link.to_string();
    let big = file("big.json", &" ".repeat(65 << 20));
    let typed_config = file("typed.json", "{\"image_name\": true}");
    let vm_string_config = file("vm-string.json", "{\"vm\": \"x\"}");
    let dotted_config = file("dotted.json", "{\"vm.vcpus\": 8, \"vm\": {\"vcpus\": 2}}");
    let disk_types_config = file(
        "disk-types.json",
        "{\"disk\": {\"types\": [\"qcow2\", \"floppy\"]}}",
    );
    let embed_yes_config = file("embed-yes.json", "{\"embed\": {\"enabled\": \"yes\"}}");
    let embed_entry_config = file(
        "embed-entry.json",
        "{\"images\": [{\"name\": \"app\", \"containerfile\": \"c\", \"embed\": 1}]}",
    );
    let embed_extra_config = file(
        "embed-extra.json",
        "{\"image_name\": \"x\", \"embed\": {\"enabled\": true, \"extra_images\": [\"quay.io/ok:1\", \"Bad Ref\"]}}",
    );
    let private_key = file(
        "id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    // issue 18, item 8: keys whose comment would break out of the kickstart's quotes
    let quote_key = file(
        "quote.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIQuote x\" --username=root \"y\n",
    );
    let backslash_key = file(
        "backslash.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIQuote a\\b\n",
    );
    let two_line_key = file(
        "two-lines.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIQuote a\nssh-rsa AAAAB3Nza b\n",
    );
    // a loop file in a directory others can write
    let open_dir = dir.join("open-dir");
    std::fs::create_dir_all(&open_dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let open_loop = open_dir.join("vg.img").to_string();
    // a wave size given as a number in the config file: waves are a list of strings
    let fleet_waves_config = file(
        "fleet-waves.json",
        "{\"fleet\": {\"waves\": [1, \"100%\"]}}",
    );
    let flightctl_http_config = file(
        "flightctl-http.json",
        r#"{"fleet": {"flightctl": {"api": "http://api.example.com"}}}"#,
    );
    let bad_input_dir = dir.join("a-directory.ks");
    std::fs::create_dir_all(&bad_input_dir).unwrap();
    let bad_input_dir = bad_input_dir.to_string();

    let cases = vec![
        case(
            &["build", "--arch", "s390x"],
            &["--arch", "'s390x'", "amd64, arm64"],
        ),
        case(&["build", "--arch", ""], &["--arch", "''"]),
        with_env(
            case(&["build"], &["--arch (from IMAGE_ARCH)", "'mips'"]),
            &[("IMAGE_ARCH", "mips")],
        ),
        case(
            &["build", "--image-name", "Foo"],
            &["--image-name", "'Foo'", "lowercase"],
        ),
        case(
            &["build", "--image-name", "a b"],
            &["--image-name", "'a b'"],
        ),
        case(
            &["build", "--image-name", "x:latest"],
            &["--image-name", "'x:latest'", "tag"],
        ),
        with_env(
            case(&["build"], &["--image-name (from IMAGE_NAME)", "'../etc'"]),
            &[("IMAGE_NAME", "../etc")],
        ),
        case(
            &["build", "--base-image", "docker://quay.io/x"],
            &["--base-image", "'docker://quay.io/x'"],
        ),
        case(
            &["build", "--base-image", "quay.io/UPPER/x"],
            &["--base-image", "'quay.io/UPPER/x'"],
        ),
        case(
            &["build", "--microshift-version", "4"],
            &["--microshift-version", "'4'"],
        ),
        case(
            &["build", "--microshift-version", "latest"],
            &["--microshift-version", "'latest'"],
        ),
        case(
            &["build", "--build-arg", "USER_PASSWD=x"],
            &["--build-arg", "'USER_PASSWD'", "build secret"],
        ),
        case(
            &["build", "--build-arg", "NOEQUALS"],
            &["--build-arg", "NAME=VALUE"],
        ),
        // finding 12: the name is shown, the value never; more secret names are caught
        case(
            &["build", "--build-arg", "API-KEY=topsecretvalue"],
            &["--build-arg", "'API-KEY'"],
        ),
        case(
            &["build", "--build-arg", "DB_PASS=x"],
            &["--build-arg", "'DB_PASS'", "secret"],
        ),
        case(
            &["build", "--build-arg", "REDHAT_PWD=x"],
            &["--build-arg", "'REDHAT_PWD'", "secret"],
        ),
        case(
            &["build", "--build-arg", "ROOTPW=x"],
            &["--build-arg", "'ROOTPW'", "secret"],
        ),
        // finding 5: control characters and commas
        case(
            &["build", "--containerfile", "tests/a\rtouch /tmp/pwned"],
            &["--containerfile", "control character"],
        ),
        case(
            &["build", "--pull-secret", "/tmp/x\n.json"],
            &["--pull-secret", "control character"],
        ),
        with_env(
            case(
                &["build"],
                &["--image-name (from IMAGE_NAME)", "control character"],
            ),
            &[("IMAGE_NAME", "x\u{1b}[2J")],
        ),
        case(
            &["run", "--host-storage", "/var/lib/c\rx"],
            &["--host-storage", "control character"],
        ),
        case(
            &["kickstart", "--output", "/tmp/ks\r.ks"],
            &["--output", "control character"],
        ),
        with_env(
            case(&["build"], &["TMPDIR", "comma"]),
            &[("TMPDIR", "/tmp/a,b")],
        ),
        case(
            &[
                "vm",
                "--iso",
                &arm_iso,
                "--arch",
                "arm64",
                "--disk-dir",
                "/var/lib/x,size=1",
            ],
            &["--disk-dir", "comma"],
        ),
        case(
            &["vm", "--iso", &comma_iso, "--arch", "arm64"],
            &["--iso", "comma"],
        ),
        // finding 4: the kickstart never goes through a link or to another user's file
        case(
            &["kickstart", "--output", &planted_link],
            &["--output", "symbolic link"],
        ),
        // finding 9: a configured auth file that is missing is an input error
        secret_case(with_env(
            case(
                &["kickstart"],
                &["--auth-config (from AUTH_CONFIG)", "--public-image"],
            ),
            &[("AUTH_CONFIG", "/nonexistent/auth.json")],
        )),
        secret_case(with_env(
            case(
                &["vm", "--iso", &arm_iso, "--arch", "arm64"],
                &["--auth-config (from AUTH_CONFIG)", "/nonexistent/auth.json"],
            ),
            &[("AUTH_CONFIG", "/nonexistent/auth.json")],
        )),
        // finding 11: reads are bounded, devices refused
        case(
            &["verify", "--pods-file", "/dev/zero"],
            &["--pods-file", "'/dev/zero'", "not a regular file"],
        ),
        case(
            &["--config", "/dev/zero", "build"],
            &["--config", "'/dev/zero'", "not a regular file"],
        ),
        case(
            &["build", "--pull-secret", "/dev/zero"],
            &["--pull-secret", "'/dev/zero'", "not a regular file"],
        ),
        case(
            &["build", "--user-passwd-file", "/dev/zero"],
            &["--user-passwd-file", "'/dev/zero'", "not a regular file"],
        ),
        case(
            &["verify", "--pods-file", &big],
            &["--pods-file", "larger than"],
        ),
        // finding 13: digests
        case(
            &[
                "kickstart",
                "--digest",
                "md5:0123456789abcdef0123456789abcdef",
            ],
            &["--digest", "'md5:"],
        ),
        case(
            &[
                "kickstart",
                "--digest",
                "sha256:0123456789abcdef0123456789abcdef",
            ],
            &["--digest", "'sha256:0123456789abcdef0123456789abcdef'"],
        ),
        // finding 14: the config file's types and shape
        with_env(
            case(
                &["--config", &typed_config, "build"],
                &["image_name", "must be a string"],
            ),
            &[("IMAGE_NAME", "fine")],
        ),
        case(
            &["--config", &vm_string_config, "build"],
            &["vm", "must be an object"],
        ),
        case(
            &["--config", &dotted_config, "build"],
            &["unknown key 'vm.vcpus'"],
        ),
        // a list in the config file is read as one
        case(
            &["--config", &disk_types_config, "disk", "--image-name", "x"],
            &["disk.types", "'floppy'", "qcow2"],
        ),
        // build --embed: its inputs
        case(
            &["build", "--embed-image", "quay.io/myorg/app:1"],
            &[
                "--embed-image",
                "'quay.io/myorg/app:1'",
                "only with --embed",
            ],
        ),
        case(
            &["build", "--embed", "--embed-image", "quay.io/x y:1"],
            &["--embed-image", "'quay.io/x y:1'"],
        ),
        case(
            &["build", "--embed", "--embed-image", "quay.io/a:1,b"],
            &["--embed-image", "'quay.io/a:1,b'"],
        ),
        case(
            &["build", "--build-network", "bogus"],
            &["--build-network", "'bogus'", "host"],
        ),
        case(
            &[
                "build",
                "--embed",
                "--embed-containerfile",
                "containerfiles/Containerfile.bootc-rhel9",
            ],
            &["--embed-containerfile", "pullsecret"],
        ),
        case(
            &[
                "build",
                "--embed",
                "--embed-containerfile",
                "/nonexistent/Containerfile",
            ],
            &["--embed-containerfile", "'/nonexistent/Containerfile'"],
        ),
        case(
            &["--config", &embed_yes_config, "build"],
            &["embed.enabled", "true or false"],
        ),
        case(
            &["--config", &embed_entry_config, "build", "--image", "app"],
            &["images[0].embed", "true or false"],
        ),
        case(
            &[
                "--config",
                &embed_extra_config,
                "build",
                "--base-image",
                "localhost/b:1",
                "--microshift-version",
                "4.16",
            ],
            &["embed.extra_images", "'Bad Ref'"],
        ),
        // finding 15: a relative HOME makes no usable ~/ path
        with_env(
            case(
                &["build", "--pull-secret", "~/ps.json"],
                &["--pull-secret", "HOME", "not an absolute path"],
            ),
            &[("HOME", "relative/home")],
        ),
        // finding 16: a negative size reaches the validation; --dry-run checks --output too
        case(
            &["run", "--lvm-loop", "-1G"],
            &["--lvm-loop", "'-1G'", "not a size"],
        ),
        case(&["vm", "--vcpus", "-2"], &["--vcpus", "'-2'"]),
        case(
            &["kickstart", "--output", "/nonexistent/dir/x.ks"],
            &["--output", "/nonexistent/dir/x.ks", "directory"],
        ),
        case(
            &["kickstart", "--output", &bad_input_dir],
            &["--output", "not a regular file"],
        ),
        case(
            &["build", "--containerfile", "/nonexistent/Containerfile"],
            &["--containerfile", "'/nonexistent/Containerfile'"],
        ),
        case(
            &["build", "--context", "/nonexistent-dir"],
            &["--context", "'/nonexistent-dir'"],
        ),
        secret_case(case(
            &["build", "--pull-secret", "/nonexistent.json"],
            // issue 18, item 15: where a pull secret comes from
            &[
                "--pull-secret",
                "/nonexistent.json",
                "https://console.redhat.com/openshift/install/pull-secret",
            ],
        )),
        case(
            &["build", "--pull-secret", &broken_json],
            &["--pull-secret", "broken.json", "not valid JSON"],
        ),
        case(
            &["build", "--pull-secret", &no_auths],
            &["--pull-secret", "noauths.json", "\"auths\""],
        ),
        secret_case(with_env(
            case(&["build"], &["USER_PASSWD", "USER_PASSWD_FILE"]),
            &[("USER_PASSWD", "")],
        )),
        case(
            &["build", "--user-passwd-file", &two_lines],
            &["--user-passwd-file", "more than one line"],
        ),
        case(
            &["build", "--user-passwd-file", &empty],
            &["--user-passwd-file", "empty"],
        ),
        case(
            &["push", "--registry-url", "https://quay.io"],
            &["--registry-url", "'https://quay.io'", "scheme"],
        ),
        case(
            &["push", "--registry-url", "quay.io/org"],
            &["--registry-url", "'quay.io/org'", "--registry-org"],
        ),
        case(
            &["push", "--registry-url", "host:99999"],
            &["--registry-url", "'host:99999'"],
        ),
        case(
            &["push", "--registry-org", "/leading"],
            &["--registry-org", "'/leading'"],
        ),
        case(
            &["push", "--registry-org", "a/../b"],
            &["--registry-org", "'a/../b'", ".."],
        ),
        with_env(
            case(&["push"], &["--registry-user", "missing"]),
            &[("REGISTRY_PASSWORD", "pw")],
        ),
        case(
            &["push", "--auth-config", &broken_json],
            &["--auth-config", "broken.json", "not valid JSON"],
        ),
        case(
            &["manifest", "--arch", "amd64,amd64"],
            &["--arch", "'amd64'", "twice"],
        ),
        case(
            &["manifest", "--arch", "amd64,ppc64le"],
            &["--arch", "'ppc64le'"],
        ),
        case(&["kickstart", "--root-size", "5"], &["--root-size", "'5'"]),
        case(
            &["kickstart", "--transport", "docker"],
            &["--transport", "'docker'"],
        ),
        case(
            &["kickstart", "--digest", "sha256:zz"],
            &["--digest", "'sha256:zz'"],
        ),
        case(
            &["kickstart", "--volume-group", "bad vg"],
            &["--volume-group", "'bad vg'"],
        ),
        case(
            &[
                "vm", "--iso", &arm_iso, "--arch", "arm64", "--memory", "512",
            ],
            &["--memory", "'512'", "2048"],
        ),
        case(
            &["vm", "--iso", &arm_iso, "--arch", "arm64", "--vcpus", "0"],
            &["--vcpus", "'0'"],
        ),
        case(
            &[
                "vm",
                "--iso",
                &arm_iso,
                "--arch",
                "arm64",
                "--disk-size",
                "5",
            ],
            &["--disk-size", "'5'"],
        ),
        case(
            &["vm", "--iso", "/nonexistent.iso"],
            &["--iso", "'/nonexistent.iso'", "cannot read"],
        ),
        case(
            &["vm", "--iso", &arm_iso, "--arch", "amd64"],
            &["--iso", "aarch64 ISO", "amd64"],
        ),
        with_env(
            case(
                &["vm", "--iso", &arm_iso, "--arch", "arm64"],
                &["--vm-name (from VMNAME)", "'bad name'"],
            ),
            &[("VMNAME", "bad name")],
        ),
        case(
            &[
                "vm",
                "--iso",
                &arm_iso,
                "--arch",
                "arm64",
                "--libvirt-uri",
                "notauri",
            ],
            &["--libvirt-uri", "'notauri'"],
        ),
        case(&["vm", "--destroy", "x y"], &["--destroy", "'x y'"]),
        case(&["run", "--lvm-loop", "1X"], &["--lvm-loop", "'1X'"]),
        case(
            &["run", "--lvm-loop", "1M"],
            &["--lvm-loop", "'1M'", "too small"],
        ),
        case(&["run", "--name=-bad"], &["--name", "'-bad'"]),
        case(
            &["run", "--image-ref", "Quay.io/A"],
            &["--image-ref", "'Quay.io/A'"],
        ),
        case(&["verify", "--timeout", "10d"], &["--timeout", "'10d'"]),
        case(&["verify", "--interval", "abc"], &["--interval", "'abc'"]),
        case(
            &["verify", "--pods-file", "/nonexistent.json"],
            &["--pods-file", "/nonexistent.json"],
        ),
        case(
            &["verify", "--pods-file", &broken_json],
            &["--pods-file", "broken.json", "not valid JSON"],
        ),
        case(&["verify", "--vm", "a;b"], &["--vm", "'a;b'"]),
        case(
            &["run", "--loop-file", "/tmp/dir/"],
            &["--loop-file", "'/tmp/dir/'"],
        ),
        case(&["disk", "--type", "iso"], &["--type", "'iso'"]),
        case(
            &["disk", "--type", "raw,ami"],
            &["--type", "image/disk.raw"],
        ),
        case(
            &["disk", "--output", &empty],
            &["--output", "not a directory"],
        ),
        // a missing parent is made by the run; a file in its place is refused
        case(
            &["disk", "--output", &format!("{empty}/dir/out")],
            &["--output", "empty.txt' is not a directory"],
        ),
        case(
            &["disk", "--ssh-key", &two_lines],
            &["--ssh-key", "not an SSH public key"],
        ),
        case(
            &["disk", "--ssh-key", &private_key],
            &["--ssh-key", "not an SSH public key"],
        ),
        secret_case(with_env(
            case(
                &["disk", "--type", "anaconda-iso"],
                &["--pull-secret", "console.redhat.com"],
            ),
            &[("PULL_SECRET", "/nonexistent/pull-secret.json")],
        )),
        case(&["disk", "--min-free", "lots"], &["--min-free", "'lots'"]),
        case(
            &["vm", "--disk", "/nonexistent.qcow2"],
            &["--disk", "'/nonexistent.qcow2'", "cannot read"],
        ),
        case(
            &["vm", "--disk", &bad_input_dir],
            &["--disk", "not a regular file"],
        ),
        case(&["vm", "--disk", &empty], &["--disk", "too small"]),
        case(&["vm", "--disk", "/tmp/a,b.qcow2"], &["--disk", "comma"]),
        case(
            &["vm", "--iso-image", &empty],
            &["--iso-image", "not a readable ISO image"],
        ),
        case(
            &["vm", "--disk", "/tmp/x.qcow2", "--iso", "/tmp/y.iso"],
            &["--disk", "--iso"],
        ),
        case(
            &["release", "--arch", "amd64,amd64"],
            &["--arch", "'amd64'", "twice"],
        ),
        case(&["release", "--arch", "amd64,mips"], &["--arch", "'mips'"]),
        case(
            &["release", "--build-arg", "DB_PASS=x"],
            &["--build-arg", "'DB_PASS'", "secret"],
        ),
        case(
            &["release", "--image", "nope"],
            &["--image", "'nope'", "no such entry"],
        ),
        // `clean` takes no target: it removes what the record lists
        case(&["clean", "--name", "x"], &["--name"]),
        // `vm --destroy` removes only a VM that `vm` made
        case(
            &["vm", "--destroy", "handmade"],
            &[
                "--destroy",
                "'handmade'",
                "not a VM that `cargo xtask vm` made",
            ],
        ),
        case(&["vm", "--destroy"], &["--destroy", "lists no VM"]),
        case(&["doctor", "--for", "deploy"], &["--for", "'deploy'"]),
        case(&["completions", "tcsh"], &["<SHELL>", "'tcsh'"]),
        case(
            &["--config", "/nonexistent.json", "build"],
            &["--config", "/nonexistent.json"],
        ),
        case(
            &["--config", &bad_config, "build"],
            &["bad-config.json", "unknown key 'registy_url'"],
        ),
        case(&["build", "--no-such-flag"], &["--no-such-flag"]),
        case(
            &["disk", "--ssh-key", &quote_key],
            &["--ssh-key", "quote.pub", "quote, a backslash"],
        ),
        case(
            &["disk", "--type", "anaconda-iso", "--public-image", "--ssh-key", &backslash_key],
            &["--ssh-key", "backslash.pub", "quote, a backslash"],
        ),
        case(
            &["disk", "--ssh-key", &two_line_key],
            &["--ssh-key", "two-lines.pub", "not an SSH public key"],
        ),
        // issue 18, item 10: a tag and a digest, which skopeo refuses after the base build
        case(
            &[
                "build",
                "--embed",
                "--embed-image",
                "quay.io/a/b:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            &["--embed-image", "'quay.io/a/b:1@sha256:0123", "both a tag and a digest"],
        ),
        // issue 18, item 2: root's loop file in a directory others can write
        case(
            &["run", "-d", "--lvm-loop", "1G", "--loop-file", &open_loop],
            &["--loop-file", "open-dir/vg.img", "can be written by other users"],
        ),
        case(&["no-such-command"], &["no-such-command"]),
        // issue 21: a device address ssh could read as an option, or with a space; keys
        case(
            &["upgrade", "--host=-oProxyCommand=touch /tmp/pwned"],
            &["--host", "'-oProxyCommand=touch /tmp/pwned'", "not a device address"],
        ),
        case(
            &["status", "--host", "edge 1"],
            &["--host", "'edge 1'", "not a device address"],
        ),
        case(
            &["doctor", "--for", "upgrade", "--host", "redhat@-oProxyCommand=x"],
            &["--host", "'redhat@-oProxyCommand=x'"],
        ),
        case(
            &["upgrade", "--host", "edge-1", "--ssh-key", &missing_key],
            &["--ssh-key", "no-such-key", "cannot be read"],
        ),
        case(
            &["upgrade", "--host", "edge-1", "--ssh-key", &public_key],
            &["--ssh-key", "id.pub", "is a public key"],
        ),
        case(
            &["rollback", "--host", "edge-1", "--ssh-key", &open_key],
            &["--ssh-key", "open_key", "others can read it"],
        ),
        case(
            &["upgrade", "--host", "edge-1", "--ssh-key", &two_lines],
            &["--ssh-key", "two-lines.txt", "not a private key"],
        ),
        case(
            &["upgrade", "--container", "microshift"],
            &["--container", "'microshift'", "does not boot another image"],
        ),
        case(
            &["upgrade", "--vm", "edge;reboot"],
            &["--vm", "'edge;reboot'"],
        ),
        case(
            &[
                "upgrade",
                "--host",
                "edge-1",
                "--follow-tag",
                "--image",
                "quay.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            &["--follow-tag", "no tag to follow"],
        ),
        case(
            &["upgrade", "--host", "edge-1", "--timeout", "soon"],
            &["--timeout", "'soon'"],
        ),
        case(&["status"], &["--host", "missing"]),
        case(
            &["status", "--host", "edge-1", "--known-hosts", "/tmp/hosts-%u"],
            &["--known-hosts", "'/tmp/hosts-%u'", "token"],
        ),
        // what the resolver reads as another address (127.0.0.1) than the one shown; an
        // international name, in its ASCII form
        case(
            &["upgrade", "--host", "redhat@2130706433"],
            &["error: --host: 'redhat@2130706433'", "not an IPv4 address"],
        ),
        case(
            &["status", "--host", "bücher.example"],
            &["error: --host: 'bücher.example'", "xn-- form"],
        ),
        // ssh expands ${NAME} in the file names it is given, and takes quotes out of -o
        // values: it would use another file than the one checked and named
        case(
            &["status", "--host", "edge-1", "--known-hosts", "/tmp/${HOME}/known"],
            &["error: --known-hosts: '/tmp/${HOME}/known'", "as a variable"],
        ),
        case(
            &["upgrade", "--host", "edge-1", "--known-hosts", "/tmp/my\"hosts\""],
            &["error: --known-hosts: ", "quotes and backslashes"],
        ),
        // issue 30: rollout's own inputs, refused before the inventory is read
        case(&["rollout", "--image", "quay.io/a/os:1"], &["--inventory", "missing"]),
        case(
            &["rollout", "--inventory", &missing_key, "--image", "quay.io/a/os:1"],
            &["--inventory", "no-such-key", "does not exist"],
        ),
        case(
            &["rollout", "--inventory", "a,b", "--image", "quay.io/a/os:1"],
            &["--inventory", "'a,b'", "list of hosts"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--waves", "1,ten%,100%"],
            &["--waves", "'ten%'", "not a count or a percentage"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--waves", "0"],
            &["--waves", "'0'", "at least one host"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--waves", "1,150%"],
            &["--waves", "'150%'", "1% to 100%"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--max-failed", "150%"],
            &["--max-failed", "'150%'", "over 100%"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--max-failed", "some"],
            &["--max-failed", "'some'", "not a percentage"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--parallel", "0"],
            &["--parallel", "'0'", "between 1 and 500"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--limit=-e@x"],
            &["--limit", "'-e@x'", "host pattern"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--timeout", "soon"],
            &["--timeout", "'soon'"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--junit", &bad_input_dir],
            &["--junit", "a-directory.ks", "is a directory"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--ssh-key", &public_key],
            &["--ssh-key", "id.pub", "is a public key"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "Bad Image"],
            &["--image", "'Bad Image'"],
        ),
        with_env(
            case(
                &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1"],
                &["fleet.waves", "list of strings"],
            ),
            &[("XTASK_CONFIG", &fleet_waves_config)],
        ),
        case(
            &["doctor", "--for", "rollout", "--limit=-x"],
            &["--limit", "'-x'"],
        ),
        // issue 31: rollout --flightctl's inputs, refused before the image or the fleet is
        // read: a URL that is not https (http only to this machine), a fleet name flightctl
        // refuses, no token, and the rest
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "ftp://api.example.com", "--image", "quay.io/a/os:1"],
                &["--api", "'ftp://api.example.com'", "https://"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "http://api.example.com", "--image", "quay.io/a/os:1"],
                &["--api", "'http://api.example.com'", "in clear"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--image", "quay.io/a/os:1"],
                &["fleet.flightctl.api", "'http://api.example.com'", "in clear"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue"), ("XTASK_CONFIG", &flightctl_http_config)],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "Edge_Sites", "--api", "https://api.example.com", "--image", "quay.io/a/os:1"],
                &["--flightctl", "'Edge_Sites'", "fleet name"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        case(
            &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--image", "quay.io/a/os:1"],
            &["--token-file", "no token", "FLIGHTCTL_TOKEN"],
        ),
        case(
            &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--token-file", &empty_token, "--image", "quay.io/a/os:1"],
            &["--token-file", "the token is empty"],
        ),
        case(
            &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--token-file", &two_line_token, "--image", "quay.io/a/os:1"],
            &["--token-file", "line break"],
        ),
        // a token file others can read is refused, as a private key is
        case(
            &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--token-file", &shared_token, "--image", "quay.io/a/os:1"],
            &["--token-file", "shared-token", "others can read it (mode 644)", "chmod 600"],
        ),
        // a byte-order mark, or quotes pasted with the token (FLIGHTCTL_TOKEN): refused
        case(
            &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--token-file", &bom_token, "--image", "quay.io/a/os:1"],
            &["--token-file", "byte-order mark"],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--image", "quay.io/a/os:1"],
                &["FLIGHTCTL_TOKEN", "a quote"],
            ),
            &[("FLIGHTCTL_TOKEN", "\"eyJhbGciOiJSUzI1NiJ9.e30.c2ln\"")],
        ),
        // --api's host and port checked before curl is asked: no port 99999, no '$(...)',
        // no '..' curl would squash
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "https://api.example.com:99999", "--image", "quay.io/a/os:1"],
                &["--api", "'https://api.example.com:99999'", "port 1 to 65535"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "https://api$(id).example.com/edge/..", "--image", "quay.io/a/os:1"],
                &["--api", "'https://api$(id).example.com/edge/..'", "host name"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "http://127.0.0.1:1", "--api-ca", &two_lines, "--image", "quay.io/a/os:1"],
                &["--api-ca", "two-lines.txt", "plain http"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--api-ca", &two_lines, "--image", "quay.io/a/os:1"],
                &["--api-ca", "two-lines.txt", "PEM certificate"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--image", "quay.io/a/os:1", "--waves", "1,0"],
                &["--waves", "'0'"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--image", "quay.io/a/os:1", "--approve", "--max-failed", "10%"],
                &["--approve", "--max-failed"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        with_env(
            case(
                &["rollout", "--flightctl", "edge", "--api", "https://api.example.com", "--image", "quay.io/a/os:1", "--timeout", "soon"],
                &["--timeout", "'soon'"],
            ),
            &[("FLIGHTCTL_TOKEN", "topsecretvalue")],
        ),
        case(
            &["rollout", "--flightctl", "edge", "--inventory", &two_lines],
            &["--flightctl", "--inventory"],
        ),
        case(
            &["rollout", "--inventory", &two_lines, "--image", "quay.io/a/os:1", "--approve"],
            &["--approve", "--flightctl FLEET"],
        ),
        case(
            &["doctor", "--for", "rollout", "--flightctl", "Edge"],
            &["--flightctl", "'Edge'", "fleet name"],
        ),
        case(
            &["doctor", "--for", "rollout", "--flightctl", "edge", "--api", "http://api.example.com"],
            &["--api", "'http://api.example.com'", "in clear"],
        ),
        case(
            &["doctor", "--for", "rollout", "--api", "https://api.example.com"],
            &["--api", "--flightctl FLEET"],
        ),
        // issue 29, item 11: a ':' only as the one port separator or in an IPv6 address's
        // brackets, wherever the host comes from
        case(
            &["upgrade", "--host", "a:b$(touch${IFS}/tmp/p):22"],
            &["--host", "'a:b$(touch${IFS}/tmp/p):22'", "more than one ':'"],
        ),
        with_env(
            case(&["rollback"], &["--host (from DEVICE_HOST)", "'a:b:22'"]),
            &[("DEVICE_HOST", "a:b:22")],
        ),
        case(
            &["--config", &host_config, "status"],
            &["device.host", "'edge:x$(id):22'", "more than one ':'"],
        ),
        case(
            &["doctor", "--for", "upgrade", "--host", "redhat@fd00::1"],
            &["--host", "'redhat@fd00::1'", "brackets"],
        ),
        case(
            &["upgrade", "--host", "[fd00::1;reboot]:22"],
            &["--host", "'[fd00::1;reboot]:22'", "not an IPv6 address"],
        ),
        // item 8: the pull's own limit
        case(
            &["upgrade", "--host", "edge-1", "--pull-timeout", "forever"],
            &["--pull-timeout", "'forever'"],
        ),
        with_env(
            case(
                &["upgrade", "--host", "edge-1"],
                &["--pull-timeout (from DEVICE_PULL_TIMEOUT)", "'0s'"],
            ),
            &[("DEVICE_PULL_TIMEOUT", "0s")],
        ),
        case(
            &["--config", &pull_config, "upgrade", "--host", "edge-1"],
            &["device.pull_timeout", "'2 days'"],
        ),
    ];
    // signed pushes (issue 22)
    let mut cases = cases;
    {
        use std::os::unix::fs::PermissionsExt;
        let fixtures = repo_root().join("tests/fixtures/signing");
        let private = dir.join("sigstore.private");
        std::fs::copy(fixtures.join("sigstore.private"), &private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
        let theirs = dir.join("theirs.private");
        std::fs::copy(fixtures.join("sigstore.private"), &theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o600)).unwrap();
        let owned_by_other = std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).is_ok();
        let public = fixtures.join("sigstore.pub").to_string();
        let gpg_public = fixtures.join("xtask-signing.gpg").to_string();
        let private = private.to_string();
        let pass = [("SIGN_PASSPHRASE", "topsecretvalue")];
        cases.push(with_env(
            case(
                &["push", "--sign-by", &public, "--sign-public-key", &public],
                &["--sign-by", "sigstore.pub", "is a public key"],
            ),
            &pass,
        ));
        if owned_by_other {
            cases.push(with_env(
                case(
                    &[
                        "push",
                        "--sign-by",
                        theirs.as_str(),
                        "--sign-public-key",
                        &public,
                    ],
                    &["--sign-by", "theirs.private", "another user"],
                ),
                &pass,
            ));
        }
        cases.push(secret_case(case(
            &["push", "--sign-by", &private, "--sign-public-key", &public],
            &["SIGN_PASSPHRASE"],
        )));
        cases.push(with_env(
            case(
                &[
                    "push",
                    "--sign-method",
                    "pgp",
                    "--sign-by",
                    &private,
                    "--sign-public-key",
                    &public,
                ],
                &["--sign-method", "pgp"],
            ),
            &pass,
        ));
        cases.push(with_env(
            case(
                &[
                    "push",
                    "--sign-method",
                    "gpg",
                    "--sign-by",
                    "1234ABCD",
                    "--sign-public-key",
                    &gpg_public,
                    "--lookaside-url",
                    "http://127.0.0.1:8080",
                ],
                &["--sign-by", "1234ABCD", "fingerprint"],
            ),
            &pass,
        ));
        cases.push(case(
            &["build", "--sign-public-key", &private],
            &["--sign-public-key", "is a private key"],
        ));
        cases.push(case(
            &[
                "build",
                "--sign-method",
                "gpg",
                "--sign-public-key",
                &gpg_public,
                "--lookaside-url",
                "file:///srv/sigs",
            ],
            &["--lookaside-url", "file:///srv/sigs"],
        ));
        // an accepted scope that covers the signed repository (issue 29): the repository,
        // a tag or a digest of it, by flag or from the config file
        let repo = "quay.io/myorg/mypath/microshift-4.16-bootc";
        let tagged = format!("{repo}:latest");
        let digested = format!("{repo}@sha256:{}", "0".repeat(64));
        let accept_repo_config = file(
            "accept-repo.json",
            &std::fs::read_to_string(repo_root().join("microshift-image.json"))
                .unwrap()
                .replacen(
                    '{',
                    &format!("{{\"signing\": {{\"accept_unsigned\": [\"{repo}\"]}},"),
                    1,
                ),
        );
        for scope in [repo, tagged.as_str()] {
            cases.push(case(
                &[
                    "build",
                    "--sign-method",
                    "gpg",
                    "--sign-public-key",
                    &gpg_public,
                    "--lookaside-url",
                    "https://sigs.example.com",
                    "--accept-unsigned",
                    "quay.io/myorg/workloads",
                    "--accept-unsigned",
                    scope,
                ],
                &["--accept-unsigned", scope, "unsigned images of"],
            ));
        }
        cases.push(with_env(
            case(
                &[
                    "release",
                    "--sign-by",
                    &private,
                    "--sign-public-key",
                    &public,
                    "--accept-unsigned",
                    &digested,
                ],
                &[
                    "--accept-unsigned",
                    "bootc@sha256:0000",
                    "unsigned images of",
                ],
            ),
            &pass,
        ));
        cases.push(with_env(
            case(
                &[
                    "push",
                    "--arch",
                    "arm64",
                    "--sign-by",
                    &private,
                    "--sign-public-key",
                    &public,
                ],
                &["signing.accept_unsigned", repo, "unsigned images of"],
            ),
            &[pass[0], ("XTASK_CONFIG", accept_repo_config.as_str())],
        ));
        // the kickstart carries the device's policy too
        let accept_tag_config = file(
            "accept-tag.json",
            &std::fs::read_to_string(repo_root().join("microshift-image.json"))
                .unwrap()
                .replacen(
                    '{',
                    &format!(
                        "{{\"signing\": {{\"method\": \"gpg\", \"public_key\": \"{gpg_public}\", \"lookaside_url\": \"https://sigs.example.com\", \"accept_unsigned\": [\"{tagged}\"]}},"
                    ),
                    1,
                ),
        );
        cases.push(with_env(
            case(
                &["kickstart"],
                &["signing.accept_unsigned", &tagged, "unsigned images of"],
            ),
            &[("XTASK_CONFIG", accept_tag_config.as_str())],
        ));
        // review of issue 29: containers/image names index.docker.io's images docker.io/...:
        // the repository's entry would never apply, and `docker.io` (a registry, which the
        // refusal above lets through) would accept the image unsigned
        cases.push(with_env(
            case(
                &[
                    "build",
                    "--sign-method",
                    "gpg",
                    "--sign-public-key",
                    &gpg_public,
                    "--lookaside-url",
                    "https://sigs.example.com",
                    "--accept-unsigned",
                    "docker.io",
                ],
                &["REGISTRY_URL", "'index.docker.io'", "give docker.io"],
            ),
            &[("REGISTRY_URL", "index.docker.io")],
        ));
        cases.push(case(&["keygen", "--method", "x509"], &["--method", "x509"]));
        // mirror (issue 24)
        let list = repo_root().join("tests/fixtures/mirror/release-x86_64.json");
        cases.push(case(
            &[
                "mirror",
                "--to",
                "https://mirror.local",
                "--release-list",
                list.as_str(),
            ],
            &["--to", "https://mirror.local"],
        ));
        let not_a_cert = file("not-a-cert.pem", "hello\n");
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--mirror-ca",
                not_a_cert.as_str(),
                "--release-list",
                list.as_str(),
            ],
            &["--mirror-ca", "not-a-cert.pem"],
        ));
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--jobs",
                "0",
                "--release-list",
                list.as_str(),
            ],
            &["--jobs", "0"],
        ));
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--embed-image",
                "busybox:1",
                "--release-list",
                list.as_str(),
            ],
            &["--embed-image", "busybox:1"],
        ));
        cases.push(with_env(
            case(
                &[
                    "build",
                    "--sign-method",
                    "gpg",
                    "--sign-public-key",
                    &gpg_public,
                    "--lookaside-url",
                    "https://sigs.example.com",
                ],
                &["--mirror-lookaside-url", "missing"],
            ),
            &[("MIRROR_REGISTRY", "mirror.local")],
        ));
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--mirror-lookaside-url",
                "file:///srv/sigs",
                "--release-list",
                list.as_str(),
            ],
            &["--mirror-lookaside-url", "file:///srv/sigs"],
        ));
        // the reviewer's finding: devices read the signatures of Red Hat's images pulled
        // through the mirror at the mirror's lookaside only, whatever the signing method
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--release-list",
                list.as_str(),
            ],
            &[
                "--mirror-lookaside-url: missing",
                "registry.redhat.io/lvms4/lvms-rhel9-operator@sha256:",
                "mirror.lookaside_url",
            ],
        ));
        cases.push(with_env(
            case(
                &[
                    "build",
                    "--embed",
                    "--embed-image",
                    "registry.access.redhat.com/ubi9/ubi:9.4",
                ],
                &[
                    "--mirror-lookaside-url: missing",
                    "registry.access.redhat.com/ubi9/ubi:9.4",
                ],
            ),
            &[("MIRROR_REGISTRY", "mirror.local")],
        ));
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--release-list",
                list.as_str(),
                "--mirror-lookaside-url",
                "https://sigs.mirror.local",
                "--source-lookaside",
                "quay.io/org",
            ],
            &["--source-lookaside", "quay.io/org", "SCOPE=URL"],
        ));
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--release-list",
                list.as_str(),
                "--mirror-lookaside-url",
                "https://sigs.mirror.local",
                "--source-lookaside",
                "quay.io/org=file:///srv/sigs",
            ],
            &["--source-lookaside", "file:///srv/sigs", "http"],
        ));
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--release-list",
                list.as_str(),
                "--mirror-lookaside-url",
                "https://sigs.mirror.local",
                "--source-lookaside",
                "https://quay.io/org=https://sigs.example.com",
            ],
            &["--source-lookaside", "not a registry host"],
        ));
        // issue 29: two registries that would share one place in the mirror
        cases.push(case(
            &[
                "mirror",
                "--to",
                "mirror.local",
                "--release-list",
                list.as_str(),
                "--embed-image",
                "[fe80::1]:5000/a/b:1",
                "--embed-image",
                "ipv6-fe80--1:5000/a/c:1",
            ],
            &["[fe80::1]:5000", "ipv6-fe80--1:5000", "would share"],
        ));
        // issue 29: a gpg-signed install through a mirror reads the signatures at the
        // mirror: its lookaside URL must be known
        let mut signed_config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("microshift-image.json")).unwrap(),
        )
        .unwrap();
        signed_config["signing"] = serde_json::json!({
            "method": "gpg",
            "public_key": gpg_public,
            "lookaside_url": "https://sigs.example.com",
        });
        let signed_config = file("signed-config.json", &signed_config.to_string());
        cases.push(with_env(
            case(
                &["--config", &signed_config, "kickstart"],
                &["--mirror-lookaside-url", "missing", "installer"],
            ),
            &[("MIRROR_REGISTRY", "mirror.local")],
        ));
        // as root, a directory others can write is refused (planted links)
        if xtask::record::effective_uid() == Some(0) {
            cases.push(case(
                &[
                    "mirror",
                    "--to-dir",
                    "/tmp/xtask-carry-bad-input",
                    "--release-list",
                    list.as_str(),
                    "--no-os-image",
                ],
                &["--to-dir", "/tmp/xtask-carry-bad-input"],
            ));
        }
        let empty_dir = dir.join("not-carried");
        std::fs::create_dir_all(&empty_dir).unwrap();
        cases.push(case(
            &[
                "mirror",
                "--from-dir",
                empty_dir.as_str(),
                "--to",
                "mirror.local",
            ],
            &["--from-dir", "not-carried"],
        ));
        // review of issue 29: podman goes remote when CONTAINER_HOST is set, every local
        // lane's build, secret and login with it: tcp:// to another machine refused as
        // `--builder` refuses it
        cases.push(with_env(
            case(
                &["build"],
                &["CONTAINER_HOST", "tcp://10.0.0.5:8888", "no TLS"],
            ),
            &[("CONTAINER_HOST", "tcp://10.0.0.5:8888")],
        ));
        // remote builders (issue 23)
        cases.push(case(
            &[
                "release",
                "--builder",
                "riscv64=unix:///run/podman/podman.sock",
            ],
            &["--builder", "riscv64"],
        ));
        cases.push(case(
            &[
                "release",
                "--builder",
                "arm64=ssh://core@arm 1/run/podman/podman.sock",
            ],
            &["--builder", "ssh://core@arm 1"],
        ));
        cases.push(case(
            &["release", "--builder", "arm64=-oProxyCommand=sh"],
            &["--builder", "-oProxyCommand=sh", "connection name"],
        ));
        cases.push(case(
            &[
                "release",
                "--arch",
                "amd64",
                "--builder",
                "arm64=arm-builder",
            ],
            &["--builder", "arm64", "no arm64 lane"],
        ));
        // podman's TCP API carries the secrets in clear to whoever listens (issue 29)
        cases.push(case(
            &["release", "--builder", "arm64=tcp://10.0.0.5:8888"],
            &["--builder", "tcp://10.0.0.5:8888", "no TLS", "ssh://"],
        ));
        cases.push(case(
            &["build", "--sign-public-key", &gpg_public],
            &["--sign-public-key", "GPG public key", "signing.method"],
        ));
        // issue 33: carried updates. A stick's label: what udev matches unchanged, nothing
        // odd (a space, an escape sequence, a letter outside ASCII, too long)
        let usb = |extra: &[&str]| -> Vec<String> {
            let mut a: Vec<String> = [
                "build",
                "--usb-updates",
                "--sign-method",
                "gpg",
                "--sign-public-key",
                gpg_public.as_str(),
                "--lookaside-url",
                "https://sigs.example.com",
            ]
            .map(String::from)
            .to_vec();
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        };
        for (label, shown) in [
            ("MS UPDATE", "'MS UPDATE'"),
            ("ÄPFEL", "ÄPFEL"),
            ("ABCDEFGHIJKLMNOPQ", "ABCDEFGHIJKLMNOPQ"),
            ("x\u{1b}[2J", "--usb-label"),
        ] {
            let args = usb(&["--usb-label", label]);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            cases.push(case(&refs, &["--usb-label", shown]));
        }
        let args = usb(&["--usb-apply", "sometime"]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cases.push(case(&refs, &["--usb-apply", "'sometime'", "next-boot"]));
        cases.push(case(
            &["build", "--usb-updates"],
            &["--sign-public-key", "missing", "usb_updates"],
        ));
        cases.push(case(
            &["build", "--usb-label", "MS-UPDATE"],
            &["--usb-label", "only with --usb-updates"],
        ));
    }
    // issue 33: the bundle's directory, and a bundle given to `upgrade`
    let label_config = {
        let mut doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo_root().join("microshift-image.json")).unwrap(),
        )
        .unwrap();
        doc["usb_updates"] = serde_json::json!({"enabled": true, "label": "A/B"});
        file("usb-label.json", &doc.to_string())
    };
    cases.push(with_env(
        case(
            &[
                "--config",
                &label_config,
                "build",
                "--sign-public-key",
                repo_root()
                    .join("tests/fixtures/signing/sigstore.pub")
                    .as_str(),
            ],
            &["usb_updates.label", "'A/B'"],
        ),
        &[],
    ));
    let tracked = repo_root().join("containerfiles/usb").to_string();
    let not_a_dir = file("a-file", "x");
    let other_files = dir.join("other-files");
    std::fs::create_dir_all(&other_files).unwrap();
    std::fs::write(other_files.join("notes.txt"), "mine").unwrap();
    let other_files = other_files.to_string();
    let not_a_bundle = dir.join("not-a-bundle");
    std::fs::create_dir_all(&not_a_bundle).unwrap();
    std::fs::write(
        not_a_bundle.join("bundle.json"),
        r#"{"format": "something/else"}"#,
    )
    .unwrap();
    std::fs::write(not_a_bundle.join("bundle.json.sig"), "x").unwrap();
    let not_a_bundle = not_a_bundle.to_string();
    let fresh = dir.join("fresh-bundle").to_string();
    // a bundle with the user's files beside it: never replaced (removed) whole
    let bundle_and_mine = dir.join("bundle-and-mine");
    std::fs::create_dir_all(bundle_and_mine.join("amd64")).unwrap();
    std::fs::write(
        bundle_and_mine.join("bundle.json"),
        r#"{"format": "xtask-bundle/1"}"#,
    )
    .unwrap();
    std::fs::write(bundle_and_mine.join("thesis.odt"), "mine").unwrap();
    let bundle_and_mine = bundle_and_mine.to_string();
    cases.extend([
        case(&["bundle"], &["--to", "missing"]),
        case(
            &["bundle", "--to", &tracked],
            &["--to", "containerfiles/usb", "tracked files"],
        ),
        case(
            &["bundle", "--to", repo_root().as_str()],
            &["--to", "is the repository"],
        ),
        case(
            &["bundle", "--to", &not_a_dir],
            &["--to", "a-file", "not a directory"],
        ),
        case(
            &["bundle", "--to", &other_files],
            &["--to", "other-files", "holds other files"],
        ),
        case(
            &["bundle", "--to", &bundle_and_mine],
            &["--to", "bundle-and-mine", "holds other files"],
        ),
        case(
            &["bundle", "--to", &not_a_bundle],
            &["--to", "not-a-bundle", "holds other files"],
        ),
        // a file system's root (an empty stick's; /proc on every host)
        case(
            &["bundle", "--to", "/proc"],
            &["--to", "'/proc'", "mount point", "/proc/microshift-bundle"],
        ),
        case(
            &["bundle", "--to", &fresh, "--arch", "sparc"],
            &["--arch", "'sparc'"],
        ),
        case(
            &["bundle", "--to", &fresh],
            &["--sign-by", "missing", "signs its manifest"],
        ),
        case(
            &["bundle", "--to", &fresh, "--microshift-version", "latest"],
            &["--microshift-version", "'latest'"],
        ),
        case(
            &[
                "upgrade",
                "--host",
                "edge-1",
                "--from-bundle",
                &not_a_bundle,
            ],
            &["--from-bundle", "not-a-bundle", "is not a bundle", "format"],
        ),
        case(
            &[
                "upgrade",
                "--host",
                "edge-1",
                "--from-bundle",
                dir.join("nowhere").as_str(),
            ],
            &["--from-bundle", "nowhere", "no such directory"],
        ),
        case(
            &[
                "upgrade",
                "--host",
                "edge-1",
                "--from-bundle",
                &not_a_bundle,
                "--follow-tag",
            ],
            &["--from-bundle", "--follow-tag"],
        ),
    ]);
    assert!(cases.len() >= 30);
    // the book's count (docs/src/test-bed.md) of cases comes from here
    eprintln!(
        "bad_input: {} cases, each plain and with --dry-run",
        cases.len()
    );
    let mut failures = Vec::new();
    for c in &cases {
        for dry in [false, true] {
            let _ = std::fs::remove_file(&log);
            let mut cmd = common::isolated_xtask(bin.as_str());
            if dry {
                cmd.arg("--dry-run");
            }
            cmd.args(&c.args)
                .env(
                    "PULL_SECRET",
                    repo_root().join("tests/fixtures/pull-secret.json").as_str(),
                )
                .env("USER_PASSWD", "canary-user-passwd")
                .env(
                    "AUTH_CONFIG",
                    repo_root()
                        .join("tests/fixtures/registry-auth.json")
                        .as_str(),
                )
                .env("XTASK_STATE_DIR", dir.join("state").as_str())
                .env("RUST_BACKTRACE", "1")
                .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let calls = std::fs::read_to_string(&log).unwrap_or_default();
            let line = stderr.trim_end();
            let mut problems = Vec::new();
            if dry && c.preview_ok {
                // the preview runs nothing and names what a real run needs
                if out.status.code() != Some(0) {
                    problems.push(format!("preview exit {:?}", out.status.code()));
                }
                for e in &c.expect {
                    if !stdout.contains(e.as_str()) {
                        problems.push(format!("the preview does not say {e:?}"));
                    }
                }
                if !calls.is_empty() {
                    problems.push(format!("ran: {calls}"));
                }
                if !problems.is_empty() {
                    failures.push(format!("--dry-run {:?}: {}", c.args, problems.join(", ")));
                }
                continue;
            }
            if out.status.code() != Some(2) {
                problems.push(format!("exit {:?}", out.status.code()));
            }
            if line.lines().count() != 1 || !line.starts_with("error: ") {
                problems.push("not one `error:` line".to_string());
            }
            for e in &c.expect {
                if !line.contains(e.as_str()) {
                    problems.push(format!("no {e:?}"));
                }
            }
            if !stdout.is_empty() {
                problems.push("printed a plan or output on stdout".into());
            }
            if stderr.contains("panicked") || stderr.contains("stack backtrace") {
                problems.push("panic or backtrace".into());
            }
            if !calls.is_empty() {
                problems.push(format!("ran: {calls}"));
            }
            if stderr.contains("canary-user-passwd") || stderr.contains("topsecretvalue") {
                problems.push("printed a secret".into());
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{}{:?}: {}\n    stderr: {line}",
                    if dry { "--dry-run " } else { "" },
                    c.args,
                    problems.join(", ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs wrong:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "not yours");
}

/// Review of issue 33: `bundle --to` an empty stick's root (a mount point) is refused before
/// anything runs: the bundle is written beside its directory (on another file system: the
/// stick's parent, often /run, in memory) and renamed into place, which cannot cross file
/// systems, and the run failed at its end. The stick here is a tmpfs mounted in a mount
/// namespace of the test's own (`unshare`: util-linux, in every test host's base system).
#[test]
fn bundle_refuses_a_sticks_root() {
    let test = "bundle_refuses_a_sticks_root";
    if !common::require_tool("unshare", test) {
        return;
    }
    let dir = scratch("bundle-stick-root");
    let stick = dir.join("MS-UPDATE");
    std::fs::create_dir_all(&stick).unwrap();
    // root in a user namespace of its own where allowed, else (root already) a mount one
    let mut ran = None;
    for flags in [&["-r", "-m"][..], &["-m"][..]] {
        let out = std::process::Command::new("unshare")
            .args(flags)
            .args([
                "sh",
                "-c",
                "mount -t tmpfs stick \"$1\" || exit 99; shift; exec \"$@\"",
                "sh",
                stick.as_str(),
                env!("CARGO_BIN_EXE_xtask"),
                "bundle",
                "--to",
                stick.as_str(),
            ])
            .current_dir(repo_root())
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", repo_root().join("tests/fixtures/home").as_str())
            .output()
            .unwrap();
        // 99: the mount refused; unshare's own message: no such namespace here
        let refused = out.status.code() == Some(99)
            || String::from_utf8_lossy(&out.stderr).starts_with("unshare:");
        if !refused {
            ran = Some(common::Ran::of(out));
            break;
        }
    }
    let Some(ran) = ran else {
        assert!(
            !common::in_ci(),
            "{test}: no mount namespace can be made here (unshare), and CI must run this test"
        );
        eprintln!(
            "SKIPPED {test}: no mount namespace can be made here (unshare -r -m, unshare -m)"
        );
        return;
    };
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr.contains("--to")
            && ran.stderr.contains("mount point")
            && ran.stderr.contains(&format!("{stick}/microshift-bundle")),
        "{}",
        ran.stderr
    );
}

/// Issue 30: what only the inventory shows is bad input too, found by the one read-only
/// question `rollout` asks before it plans (`ansible-inventory --list`, the real one):
/// an inventory that does not parse, a `--limit` that matches no host, a host without an
/// address, a key file that is not a private key (or is someone's public key), a templated
/// value, a port that is not one. One `error:` line naming the host and the variable, exit
/// 2, and nothing else asked or run (no skopeo, no ansible-playbook).
#[test]
fn rollout_refuses_a_bad_inventory_before_anything_runs() {
    let test = "rollout_refuses_a_bad_inventory_before_anything_runs";
    if !common::require_tool("ansible-inventory", test) {
        return;
    }
    let dir = scratch("bad-inventory");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    stubs(&bin, &log);
    // the real ansible-inventory (with this test's PATH and HOME, which it may need: a
    // pyenv shim), each question logged apart
    let asked = dir.join("asked.log");
    std::fs::write(
        bin.join("ansible-inventory"),
        format!(
            "#!/bin/sh\necho \"ansible-inventory $*\" >> {asked}\nPATH='{}' HOME='{}' exec ansible-inventory \"$@\"\n",
            std::env::var("PATH").unwrap_or_default(),
            std::env::var("HOME").unwrap_or_default(),
        ),
    )
    .unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string()
    };
    let key = file(
        "id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----\ntest fixture, not a key\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let public = file(
        "id.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey user@host\n",
    );
    let not_key = file("notes.txt", "a shopping list\n");
    let inv = |name: &str, line: &str| {
        file(
            name,
            &format!("[edge]\nedge-0 ansible_host=192.0.2.9 ansible_ssh_private_key_file={key}\n{line}\n"),
        )
    };
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["--inventory".into(), file("broken.yml", "all:\n  hosts: [\n")],
            vec!["--inventory", "broken.yml", "ansible-inventory cannot read it"],
        ),
        (
            vec![
                "--inventory".into(),
                inv("ok.ini", &format!("edge-1 ansible_host=192.0.2.10 ansible_ssh_private_key_file={key}")),
                "--limit".into(),
                "lab".into(),
            ],
            vec!["--limit", "'lab'", "matches no host"],
        ),
        (
            vec!["--inventory".into(), inv("no-address.ini", "edge-1 ansible_host=")],
            vec!["host edge-1", "ansible_host", "no address"],
        ),
        (
            vec![
                "--inventory".into(),
                inv("public.ini", &format!("edge-1 ansible_ssh_private_key_file={public}")),
            ],
            vec!["host edge-1", "ansible_ssh_private_key_file", "id.pub", "is a public key"],
        ),
        (
            vec![
                "--inventory".into(),
                inv("not-key.ini", &format!("edge-1 ansible_ssh_private_key_file={not_key}")),
            ],
            vec!["host edge-1", "notes.txt", "not a private key"],
        ),
        (
            vec![
                "--inventory".into(),
                file("template.yml", &format!("all:\n  hosts:\n    edge-1:\n      ansible_host: \"{{{{ lookup('env', 'EDGE') }}}}\"\n      ansible_ssh_private_key_file: {key}\n")),
            ],
            vec!["host edge-1", "ansible_host", "Jinja template"],
        ),
        (
            vec!["--inventory".into(), inv("port.ini", "edge-1 ansible_port=ssh")],
            vec!["host edge-1", "ansible_port", "'ssh'"],
        ),
        (
            vec!["--inventory".into(), inv("user.ini", "edge-1 ansible_user=-oProxyCommand=x")],
            vec!["host edge-1", "ansible_user"],
        ),
    ];
    let mut failures = Vec::new();
    for (args, expect) in &cases {
        for dry in [false, true] {
            let _ = std::fs::remove_file(&log);
            let _ = std::fs::remove_file(&asked);
            let mut cmd = common::isolated_xtask(bin.as_str());
            if dry {
                cmd.arg("--dry-run");
            }
            cmd.arg("rollout")
                .args(args)
                .args(["--image", "quay.io/org/os:2"])
                .env("XTASK_STATE_DIR", dir.join("state").as_str());
            let out = cmd.output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let line = stderr.trim_end();
            let mut problems = Vec::new();
            if out.status.code() != Some(2) {
                problems.push(format!("exit {:?}", out.status.code()));
            }
            if line.lines().count() != 1 || !line.starts_with("error: ") {
                problems.push("not one `error:` line".to_string());
            }
            for e in expect {
                if !line.contains(e) {
                    problems.push(format!("no {e:?}"));
                }
            }
            if !out.stdout.is_empty() {
                problems.push("printed on stdout".to_string());
            }
            let calls = std::fs::read_to_string(&log).unwrap_or_default();
            if !calls.is_empty() {
                problems.push(format!("ran: {calls}"));
            }
            let questions = std::fs::read_to_string(&asked).unwrap_or_default();
            if questions.lines().count() != 1 || !questions.contains(" --list") {
                problems.push(format!("asked: {questions:?}"));
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{}{args:?}: {}\n    stderr: {line}",
                    if dry { "--dry-run " } else { "" },
                    problems.join(", ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Issue 30 (review): without `ansible-playbook` (ansible-inventory alone, or a PATH that
/// lost it), `rollout` refuses before anything is asked or removed: one `error:` line naming
/// it, exit 2 (on main, the last rollout's files were removed and the play then could not
/// start: exit 1, no report). A preview says what a real run needs, and prints the plan.
#[test]
fn rollout_refuses_without_ansible_playbook() {
    let dir = scratch("rollout-no-playbook");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    stubs(&bin, &log);
    std::fs::remove_file(bin.join("ansible-playbook")).unwrap();
    let inventory = dir.join("hosts.ini");
    std::fs::write(&inventory, "edge-1 ansible_host=192.0.2.10\n").unwrap();
    let rollout = |dry: bool| {
        let _ = std::fs::remove_file(&log);
        let mut cmd = common::isolated_xtask(bin.as_str());
        if dry {
            cmd.arg("--dry-run");
        }
        cmd.args(["rollout", "--inventory", inventory.as_str()])
            .args(["--image", "quay.io/org/os:2"])
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    };
    let (code, stderr, stdout, calls) = rollout(false);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.lines().count() == 1
            && stderr.starts_with("error: rollout: ansible-playbook is not installed"),
        "{stderr}"
    );
    assert!(stdout.is_empty() && calls.is_empty(), "ran: {calls}");
    assert!(!dir.join("state/rollout").exists());
    // a preview goes on (the stubs answer nothing: the pin is refused after the note)
    let (_, stderr, stdout, _) = rollout(true);
    assert!(
        !stderr.contains("ansible-playbook is not installed"),
        "{stderr}{stdout}"
    );
}

/// Issue 30 (review): `--image` naming one image (not a manifest list), by tag or by digest,
/// is refused before anything runs: `upgrade` takes a single image as it is, and every
/// device of another architecture would have been switched to it and rebooted (on main:
/// exit 0 for them with the stand-in devices, and a report of "failed" only once they ran
/// it). TEST FIXTURES: skopeo serves one amd64 image; ansible-inventory one host.
#[test]
fn rollout_refuses_a_single_image() {
    let dir = scratch("rollout-single-image");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    stubs(&bin, &log);
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":2},"layers":[]}"#;
    let digest = xtask::digest::digest(format!("{manifest}\n").as_bytes());
    common::write_executable(
        &bin.join("skopeo"),
        &format!(
            "#!/bin/sh\n# TEST FIXTURE, not skopeo: a registry that holds one amd64 image\ncase \"$*\" in\n  *--config*) echo '{{\"architecture\":\"amd64\",\"os\":\"linux\"}}' ;;\n  *) echo '{manifest}' ;;\nesac\n"
        ),
    );
    common::write_executable(
        &bin.join("ansible-inventory"),
        "#!/bin/sh\necho '{\"_meta\": {\"hostvars\": {\"edge-1\": {\"ansible_host\": \"192.0.2.10\"}}}, \"ungrouped\": {\"hosts\": [\"edge-1\"]}}'\n",
    );
    let inventory = dir.join("hosts.ini");
    std::fs::write(&inventory, "# read through the ansible-inventory stub\n").unwrap();
    for image in [
        "quay.io/org/os:1".to_string(),
        format!("quay.io/org/os@{digest}"),
    ] {
        let _ = std::fs::remove_file(&log);
        let out = common::isolated_xtask(bin.as_str())
            .args([
                "rollout",
                "--inventory",
                inventory.as_str(),
                "--image",
                &image,
            ])
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.trim_end();
        assert_eq!(out.status.code(), Some(2), "{image}: {line}");
        assert!(
            line.lines().count() == 1
                && line.starts_with("error: --image: 'quay.io/org/os")
                && line.contains("': names one image (amd64), not a manifest list"),
            "{image}: {line}"
        );
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(calls.is_empty(), "{image}: ran {calls}");
    }
}

/// Finding 4: an existing `--output` owned by another user is refused (they could read
/// the secrets); finding 14: a non-UTF-8 secret is an error, not "missing".
#[test]
fn output_of_another_user_and_non_utf8_env_are_refused() {
    use std::os::unix::ffi::OsStringExt;
    let dir = scratch("bad-input-owner");
    let run = |args: &[&str], env: &[(&str, std::ffi::OsString)]| {
        let mut cmd = common::isolated_xtask("/usr/bin:/bin");
        common::with_fixture_secrets(cmd.args(args))
            .env("XTASK_STATE_DIR", dir.join("state").as_str());
        for (k, v) in env {
            cmd.env(k, v);
        }
        common::Ran::of(cmd.output().unwrap())
    };
    let broken = std::ffi::OsString::from_vec(vec![b'p', 0xff, b'w']);
    let ran = run(&["build"], &[("USER_PASSWD", broken)]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("USER_PASSWD: its value is not valid UTF-8"),
        "{}",
        ran.stderr
    );
    if common::require_root("output_of_another_user_is_refused") {
        let theirs = dir.join("theirs.ks");
        std::fs::write(&theirs, "theirs").unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        for dry in [false, true] {
            let mut args = vec!["kickstart", "--output", theirs.as_str()];
            if dry {
                args.insert(0, "--dry-run");
            }
            let ran = run(&args, &[]);
            assert_eq!(ran.code, 2, "{}", ran.stderr);
            assert!(
                ran.stderr.contains("belongs to another user"),
                "{}",
                ran.stderr
            );
            assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "theirs");
        }
    }
}

/// Finding 10: odd but parseable input never panics (exit 101): restart counts that would
/// overflow a sum are judged like any others.
#[test]
fn huge_numbers_in_a_pod_list_do_not_panic() {
    let dir = scratch("bad-input-pods");
    let max = u64::MAX;
    let pods = dir.join("pods.json");
    std::fs::write(
        &pods,
        format!(
            r#"{{"items":[{{"metadata":{{"namespace":"n","name":"p"}},"status":{{"phase":"Running","containerStatuses":[{{"name":"a","ready":false,"restartCount":{max}}},{{"name":"b","ready":false,"restartCount":{max}}}]}}}}]}}"#
        ),
    )
    .unwrap();
    let out = common::isolated_xtask("/usr/bin:/bin")
        .args(["verify", "--pods-file", pods.as_str()])
        .output()
        .unwrap();
    let ran = common::Ran::of(out);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(&format!("n/p: container a not ready, {max} restarts")),
        "{}",
        ran.stderr
    );
}

/// A record the user cannot read (written through sudo by root) stops only the commands that
/// use it, with the reason; the others work as before.
#[test]
fn an_unreadable_record_stops_only_what_uses_it() {
    let dir = scratch("bad-input-record");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    // a directory where the file should be: unreadable as a file, whoever runs the test
    std::fs::create_dir_all(state.join("record.json")).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = common::isolated_xtask("/usr/bin:/bin");
        common::with_fixture_secrets(cmd.args(args))
            .env("USER_PASSWD", "pw")
            .env("XTASK_STATE_DIR", state.as_str());
        common::Ran::of(cmd.output().unwrap())
    };
    let clean = run(&["--dry-run", "clean"]);
    assert_eq!(clean.code, 2, "{}", clean.stderr);
    assert!(
        clean.stderr.contains("record") && clean.stderr.contains("sudo"),
        "{}",
        clean.stderr
    );
    run(&["--dry-run", "build"]).ok();
}

/// Issue 21: an unknown VM is not bad input (libvirt knows, the tool cannot before asking),
/// but it ends at the first step, naming the VM and how to list the VMs, with exit 1: never
/// a wait for an address that will not come. Real virsh, libvirt's test driver (no daemon).
#[test]
fn an_unknown_vm_ends_at_once_naming_it() {
    if !common::require_tool("virsh", "an_unknown_vm_ends_at_once_naming_it") {
        return;
    }
    let dir = scratch("unknown-vm");
    for cmd in ["status", "upgrade", "rollback"] {
        let started = std::time::Instant::now();
        let out = common::isolated_xtask("/usr/sbin:/usr/bin:/sbin:/bin")
            .args([
                cmd,
                "--vm",
                "no-such-vm",
                "--libvirt-uri",
                "test:///default",
            ])
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .env(
                "AUTH_CONFIG",
                repo_root()
                    .join("tests/fixtures/registry-auth.json")
                    .as_str(),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(
            stderr.contains("check no-such-vm is running")
                && stderr.contains("virsh --connect test:///default list --all"),
            "{cmd}: {stderr}"
        );
        assert!(started.elapsed().as_secs() < 20, "{cmd} waited");
    }
}

/// Review of issue 29: a file the tool reads (a public key, the mirror's CA, a release
/// list) that is a FIFO, itself or through a link, is refused before it is opened: opening
/// one waits for a writer, and the command would hang before its first step.
#[test]
fn a_fifo_given_as_a_file_is_refused_unopened() {
    let dir = scratch("bad-input-fifo");
    let fifo = dir.join("key.pub");
    let made = std::process::Command::new("mkfifo")
        .arg(fifo.as_str())
        .status()
        .unwrap();
    assert!(made.success());
    let link = dir.join("link.pub");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let list = repo_root().join("tests/fixtures/mirror/release-x86_64.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "build",
                "--sign-method",
                "sigstore",
                "--sign-public-key",
                fifo.as_str(),
            ],
            "--sign-public-key",
        ),
        (
            vec![
                "build",
                "--sign-method",
                "sigstore",
                "--sign-public-key",
                link.as_str(),
            ],
            "--sign-public-key",
        ),
        (
            vec![
                "mirror",
                "--to",
                "mirror.local",
                "--mirror-ca",
                fifo.as_str(),
                "--release-list",
                list.as_str(),
            ],
            "--mirror-ca",
        ),
        (
            vec![
                "mirror",
                "--to",
                "mirror.local",
                "--no-os-image",
                "--release-list",
                fifo.as_str(),
            ],
            "--release-list",
        ),
    ];
    for (args, flag) in cases {
        let mut child = common::isolated_xtask("/usr/bin:/bin")
            .arg("--dry-run")
            .args(&args)
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{args:?}: still running after 10 s (opened the FIFO, waiting for a writer)"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag)
                && stderr.contains("not a regular file")
                && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }
}

/// Issue 29: a "public" key file is built into the image (mode 0644) and kickstarts, so one
/// that holds a private key anywhere is refused, saying why; read through to its end —
/// every PEM block, every OpenPGP packet, binary or armored. Real gpg output of a throwaway
/// key (in a keyring of the test's own) and the repository's sigstore fixtures.
#[test]
fn a_public_key_file_holding_a_private_key_is_refused() {
    let test = "a_public_key_file_holding_a_private_key_is_refused";
    if !common::require_tool("gpg", test) {
        return;
    }
    let dir = scratch("key-files");
    let home = dir.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let gpg = |args: &[&str]| -> Vec<u8> {
        let out = std::process::Command::new("gpg")
            .args([
                "--homedir",
                home.as_str(),
                "--batch",
                "--pinentry-mode",
                "loopback",
            ])
            .args(["--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    gpg(&[
        "--quick-gen-key",
        "xtask test <t@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    let listed = String::from_utf8(gpg(&["--list-secret-keys", "--with-colons"])).unwrap();
    let fpr = listed
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .unwrap()
        .to_string();
    gpg(&["--quick-add-key", &fpr, "cv25519", "encr", "never"]);
    let public = gpg(&["--export", &fpr]);
    let public_asc = gpg(&["--armor", "--export", &fpr]);
    let secret = gpg(&["--export-secret-keys", &fpr]);
    let secret_asc = gpg(&["--armor", "--export-secret-keys", &fpr]);
    let subkeys = gpg(&["--export-secret-subkeys", &fpr]);
    let _ = std::process::Command::new("gpgconf")
        .args(["--homedir", home.as_str(), "--kill", "all"])
        .status();
    let fixtures = repo_root().join("tests/fixtures/signing");
    let sig_pub = std::fs::read(fixtures.join("sigstore.pub")).unwrap();
    let sig_private = std::fs::read(fixtures.join("sigstore.private")).unwrap();
    let cat = |parts: &[&[u8]]| parts.concat();
    let text = |s: &[u8], from: &str, to: &str| {
        String::from_utf8(s.to_vec())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    };
    let comments = "# a comment line of a key file, repeated to pass 4 KiB\n".repeat(100);
    let cases: Vec<(&str, &str, Vec<u8>, Option<&str>)> = vec![
        ("gpg-public.gpg", "gpg", public.clone(), None),
        ("gpg-public.asc", "gpg", public_asc.clone(), None),
        ("sigstore.pub", "sigstore", sig_pub.clone(), None),
        // `gpg --export` with `gpg --export-secret-keys` appended
        (
            "gpg-export-then-secret.gpg",
            "gpg",
            cat(&[&public, &secret]),
            Some("tag 5 (a secret key)"),
        ),
        // only a subkey's secret (the primary a stub)
        (
            "gpg-export-then-subkeys.gpg",
            "gpg",
            cat(&[&public, &subkeys]),
            Some("tag 7 (a secret subkey)"),
        ),
        // armored public block, then the secret packets in binary
        (
            "gpg-armor-then-binary.asc",
            "gpg",
            cat(&[&public_asc, &secret]),
            Some("cannot be read through"),
        ),
        // armored public block, then an armored private block after 5 KiB of comments
        (
            "gpg-armor-then-armor.asc",
            "gpg",
            cat(&[&public_asc, comments.as_bytes(), &secret_asc]),
            Some("PGP PRIVATE KEY BLOCK"),
        ),
        // the secret keys under a public block's label: the packets say what it is
        (
            "gpg-secret-labelled-public.asc",
            "gpg",
            text(&secret_asc, "PRIVATE KEY BLOCK", "PUBLIC KEY BLOCK"),
            Some("tag 5 (a secret key)"),
        ),
        (
            "gpg-secret.gpg",
            "gpg",
            secret.clone(),
            Some("is a private key"),
        ),
        // a sigstore public key, then (past 4 KiB) the private one
        (
            "sigstore-pair.pub",
            "sigstore",
            cat(&[&sig_pub, comments.as_bytes(), &sig_private]),
            Some("ENCRYPTED SIGSTORE PRIVATE KEY"),
        ),
        // review of issue 29: the secret keys' armor after the public block's checksum line
        // (inside its block), and an SSH2 private key (RFC 4716, no PEM dashes)
        (
            "gpg-secret-after-checksum.asc",
            "gpg",
            {
                let public = String::from_utf8(public_asc.clone()).unwrap();
                let secret = String::from_utf8(secret_asc.clone()).unwrap();
                let body: String = secret
                    .lines()
                    .skip_while(|l| !l.is_empty())
                    .take_while(|l| !l.starts_with('='))
                    .map(|l| format!("{l}\n"))
                    .collect();
                public
                    .replace("-----END PGP PUBLIC KEY BLOCK-----", &format!("{body}-----END PGP PUBLIC KEY BLOCK-----"))
                    .into_bytes()
            },
            Some("after its checksum line"),
        ),
        (
            "sigstore-then-ssh2.pub",
            "sigstore",
            cat(&[
                &sig_pub,
                b"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: test fixture, not a key\nP2/56wAAAA==\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n",
            ]),
            Some("SSH2 ENCRYPTED PRIVATE KEY"),
        ),
    ];
    for (name, method, bytes, refused) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = common::isolated_xtask("/usr/bin:/bin")
            .args([
                "--dry-run",
                "build",
                "--arch",
                "amd64",
                "--sign-method",
                method,
                "--sign-public-key",
                path.as_str(),
                "--lookaside-url",
                "https://sigs.example.com",
            ])
            .env(
                "PULL_SECRET",
                repo_root().join("tests/fixtures/pull-secret.json").as_str(),
            )
            .env("USER_PASSWD", "canary-user-passwd")
            .env("XTASK_STATE_DIR", dir.join("state").as_str())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match refused {
            None => assert_eq!(out.status.code(), Some(0), "{name}: {stderr}"),
            Some(why) => {
                assert_eq!(out.status.code(), Some(2), "{name} was accepted: {stderr}");
                assert!(
                    stderr.contains("--sign-public-key")
                        && stderr.contains(name)
                        && stderr.contains(why)
                        && stderr.lines().count() == 1,
                    "{name}: {stderr}"
                );
            }
        }
    }
}
