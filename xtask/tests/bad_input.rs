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
        case(
            &["disk", "--output", "/nonexistent/dir/out"],
            &["--output", "parent directory"],
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
        cases.push(case(
            &["build", "--sign-public-key", &gpg_public],
            &["--sign-public-key", "GPG public key", "signing.method"],
        ));
    }
    assert!(cases.len() >= 30);
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
