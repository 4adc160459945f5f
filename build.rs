//! Build script of the GUI: compiles the GResource bundle and validates/compiles the GSettings
//! schema, and (for development runs) the translations. Everything it writes goes to `OUT_DIR`.

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

const RESOURCE_XML: &str = "data/resources/resources.gresource.xml";
const SCHEMA: &str = "data/org.hangar.Hangar.gschema.xml";

#[derive(Debug)]
struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for BuildError {}

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    compile_resources(&out_dir)?;
    compile_schema(&out_dir)?;
    compile_translations(&out_dir)?;
    Ok(())
}

/// Runs `cmd`, turning a missing tool or a failure into a message that says what to install or fix.
fn run(cmd: &mut Command, package_hint: &str) -> Result<std::process::Output, BuildError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.output().map_err(|e| {
        BuildError(format!(
            "cannot run `{program}` ({e}); install it (Debian package: {package_hint})"
        ))
    })?;
    if !output.status.success() {
        return Err(BuildError(format!(
            "`{program}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(output)
}

fn compile_resources(out_dir: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={RESOURCE_XML}");
    let deps = run(
        Command::new("glib-compile-resources")
            .arg("--sourcedir=data")
            .arg("--generate-dependencies")
            .arg(RESOURCE_XML),
        "libglib2.0-dev-bin",
    )?;
    for dep in String::from_utf8_lossy(&deps.stdout)
        .lines()
        .filter(|l| !l.is_empty())
    {
        println!("cargo:rerun-if-changed={dep}");
    }
    run(
        Command::new("glib-compile-resources")
            .arg("--sourcedir=data")
            .arg(format!("--target={}", out_dir.join("hangar.gresource").display()))
            .arg(RESOURCE_XML),
        "libglib2.0-dev-bin",
    )?;
    Ok(())
}

/// Validates the schema strictly and compiles it; the binary embeds the result so that a run
/// from the build tree works without the schema being installed.
fn compile_schema(out_dir: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={SCHEMA}");
    let schema_dir = out_dir.join("schemas");
    std::fs::create_dir_all(&schema_dir)?;
    // glib-compile-schemas compiles every *.gschema.xml of a folder: give it ours alone.
    std::fs::copy(SCHEMA, schema_dir.join("org.hangar.Hangar.gschema.xml"))?;
    run(
        Command::new("glib-compile-schemas")
            .arg("--strict")
            .arg(&schema_dir),
        "libglib2.0-bin",
    )?;
    Ok(())
}

/// Compiles `po/*.po` into `OUT_DIR/locale` and, in debug builds, tells the program where they
/// are (`HANGAR_DEV_LOCALEDIR`) so translations can be tried without installing.
fn compile_translations(out_dir: &Path) -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=po/LINGUAS");
    let linguas = std::fs::read_to_string("po/LINGUAS")?;
    let locale_dir = out_dir.join("locale");
    for lang in linguas
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let po = format!("po/{lang}.po");
        println!("cargo:rerun-if-changed={po}");
        let target = locale_dir.join(lang).join("LC_MESSAGES");
        std::fs::create_dir_all(&target)?;
        run(
            Command::new("msgfmt")
                .arg("--check")
                .arg("-o")
                .arg(target.join("hangar.mo"))
                .arg(&po),
            "gettext",
        )?;
    }
    if std::env::var("PROFILE").as_deref() == Ok("debug") {
        println!("cargo:rustc-env=HANGAR_DEV_LOCALEDIR={}", locale_dir.display());
    }
    Ok(())
}
