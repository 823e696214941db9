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

    /// The architecture from `--arch`, IMAGE_ARCH, if given.
    pub fn arch(args: &ImageArgs, sources: &Sources) -> anyhow::Result<Option<Arch>> {
        sources
            .value(&crate::inputs::ARCH, args.arch.as_deref())?
            .map(|p| Arch::parse(&p.what, &p.value))
            .transpose()
    }

    pub fn resolve(args: &ImageArgs, sources: &Sources) -> anyhow::Result<Image> {
        Ok(Image {
            name: Image::name(args.image_name.as_deref(), sources)?,
            arch: Image::arch(args, sources)?,
        })
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
