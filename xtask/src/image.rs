//! The image the commands act on: its name and architecture, as build, push, run,
//! kickstart and vm name it (`localhost/<name>:<tag>`, the tag `linux-<arch>` or `latest`).

use crate::arch::Arch;
use crate::config::Sources;
use crate::validate;

/// Flags naming the image, shared by build, push and run.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImageArgs {
    #[arg(long)]
    pub image_name: Option<String>,
    #[arg(long)]
    pub arch: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub name: String,
    pub arch: Option<Arch>,
}

impl Image {
    /// The image name from `--image-name`, IMAGE_NAME or the config file, validated.
    pub fn name(flag: Option<&str>, sources: &Sources) -> anyhow::Result<String> {
        let name = sources.get(&crate::inputs::IMAGE_NAME, flag)?;
        validate::image_name(&name.what, &name.value)
    }

    pub fn resolve(args: &ImageArgs, sources: &Sources) -> anyhow::Result<Image> {
        let name = Image::name(args.image_name.as_deref(), sources)?;
        let arch = sources
            .value(&crate::inputs::ARCH, args.arch.as_deref())?
            .map(|p| Arch::parse(&p.what, &p.value))
            .transpose()?;
        Ok(Image { name, arch })
    }
    /// `linux-<arch>` for an architecture build, `latest` otherwise.
    pub fn tag(&self) -> String {
        self.arch.map_or_else(|| "latest".to_string(), Arch::tag)
    }
    /// `localhost/<name>:<tag>`, the name podman gives a local build.
    pub fn local(&self) -> String {
        format!("localhost/{}:{}", self.name, self.tag())
    }
}

impl Image {
    /// `podman image inspect` of the local image, checked: it is there, of its architecture.
    pub fn inspect_step(&self) -> crate::plan::Step {
        let local = self.local();
        crate::plan::Step::new("inspect", format!("inspect {local}"), "podman")
            .args(["image", "inspect", &local])
            .read_only()
            .root(true)
            .check(crate::plan::Check::Image {
                reference: local,
                arch: self.arch,
            })
    }
}

/// `{arch}` and `{tag}` in a configured value (a base image, a boot ISO path) become these
/// words: the architecture as that value names it (`amd64` or `x86_64`) and the tag.
pub fn expand(value: &str, arch: &str, tag: &str) -> String {
    value.replace("{arch}", arch).replace("{tag}", tag)
}

/// [`expand`] on a resolved input, keeping where it came from.
pub fn expand_picked(
    picked: &crate::config::Picked,
    arch: &str,
    tag: &str,
) -> crate::config::Picked {
    crate::config::Picked {
        value: expand(&picked.value, arch, tag),
        ..picked.clone()
    }
}
