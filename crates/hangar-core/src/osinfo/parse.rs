//! `os/<vendor>/<os>.xml` files of osinfo-db to [`OsEntry`] drafts (before inheritance).
//!
//! Only direct children of `<os>` are read (a `<tree>` has its own `<family>`), translated
//! elements (`xml:lang`) are skipped, and only the fields Hangar uses are kept.

use roxmltree::{Document, Node, ParsingOptions};

use super::entry::{
    Devices, FirmwareSupport, IdPattern, Media, OsEntry, ReleaseStatus, ResourceSet, Resources, DEVICE_IDS,
};

/// One `<resources arch=…>` block as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnResources {
    pub arch: String,
    /// `inherit="true"`: take the parent's.
    pub inherit: bool,
    pub resources: Resources,
}

/// An OS as its file describes it, before resolving what it inherits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    pub entry: OsEntry,
    pub resources: Vec<OwnResources>,
    pub devices: Devices,
    pub firmware: FirmwareSupport,
}

/// Parse one database file; it may describe several systems (or none: devices, platforms).
pub(crate) fn parse_file(text: &str) -> Result<Vec<Draft>, String> {
    let doc = Document::parse_with_options(
        text,
        ParsingOptions {
            allow_dtd: false,
            ..ParsingOptions::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if root.tag_name().name() != "libosinfo" {
        return Err(format!(
            "root element is <{}>, not <libosinfo>",
            root.tag_name().name()
        ));
    }
    Ok(root
        .children()
        .filter(|n| is(n, "os"))
        .filter_map(parse_os)
        .collect())
}

fn is(node: &Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name
}

fn translated(node: &Node) -> bool {
    node.attributes().any(|a| a.name() == "lang")
}

fn text(node: &Node) -> Option<String> {
    let t = node.text()?.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn bool_attr(node: &Node, name: &str, default: bool) -> bool {
    match node.attribute(name).map(str::trim) {
        Some("true") | Some("yes") | Some("1") => true,
        Some("false") | Some("no") | Some("0") => false,
        _ => default,
    }
}

fn parse_os(os: Node) -> Option<Draft> {
    let id = os.attribute("id")?.trim().to_string();
    let mut d = Draft {
        entry: OsEntry {
            id,
            ..OsEntry::default()
        },
        resources: vec![],
        devices: Devices::default(),
        firmware: FirmwareSupport::default(),
    };
    let e = &mut d.entry;
    for child in os.children().filter(Node::is_element) {
        if translated(&child) {
            continue;
        }
        let set_once = |slot: &mut String| {
            if slot.is_empty() {
                if let Some(t) = text(&child) {
                    *slot = t;
                }
            }
        };
        match child.tag_name().name() {
            "short-id" => e.short_ids.extend(text(&child)),
            "name" => set_once(&mut e.name),
            "vendor" => set_once(&mut e.vendor),
            "family" => set_once(&mut e.family),
            "distro" => set_once(&mut e.distro),
            "version" => e.version = e.version.take().or_else(|| text(&child)),
            "codename" => e.codename = e.codename.take().or_else(|| text(&child)),
            "release-date" => e.release_date = text(&child),
            "eol-date" => e.eol_date = text(&child),
            "release-status" => {
                e.release_status =
                    text(&child).map_or_else(ReleaseStatus::default, |s| ReleaseStatus::parse(&s))
            }
            "derives-from" => e.derives_from.extend(child.attribute("id").map(str::to_string)),
            "upgrades" => e.upgrades.extend(child.attribute("id").map(str::to_string)),
            "clones" => e.clones = child.attribute("id").map(str::to_string),
            "media" => e.media.extend(parse_media(&child)),
            "resources" => d.resources.push(parse_resources(&child)),
            "devices" => parse_devices(&child, &mut d.devices),
            "firmware" => parse_firmware(&child, &mut d.firmware),
            _ => {}
        }
    }
    if e.name.is_empty() {
        e.name = e.short_ids.first().cloned().unwrap_or_else(|| e.id.clone());
    }
    Some(d)
}

fn parse_media(media: &Node) -> Option<Media> {
    let iso = media.children().find(|n| is(n, "iso"))?;
    let mut m = Media {
        arch: media.attribute("arch").unwrap_or("all").trim().to_string(),
        volume_id: None,
        system_id: None,
        publisher_id: None,
        application_id: None,
        volume_size: None,
    };
    for f in iso.children().filter(Node::is_element) {
        let pattern = || text(&f).map(|t| IdPattern::new(&t));
        match f.tag_name().name() {
            "volume-id" => m.volume_id = pattern(),
            "system-id" => m.system_id = pattern(),
            "publisher-id" => m.publisher_id = pattern(),
            "application-id" => m.application_id = pattern(),
            "volume-size" => m.volume_size = text(&f).and_then(|t| t.parse().ok()).filter(|&n| n > 0),
            _ => {}
        }
    }
    Some(m)
}

fn parse_resources(res: &Node) -> OwnResources {
    let mut r = Resources::default();
    for level in res.children().filter(Node::is_element) {
        let slot = match level.tag_name().name() {
            "minimum" => &mut r.minimum,
            "recommended" => &mut r.recommended,
            "maximum" => &mut r.maximum,
            _ => continue,
        };
        *slot = parse_resource_set(&level);
    }
    OwnResources {
        arch: res.attribute("arch").unwrap_or("all").trim().to_string(),
        inherit: bool_attr(res, "inherit", false),
        resources: r,
    }
}

fn parse_resource_set(level: &Node) -> ResourceSet {
    let mut s = ResourceSet::default();
    for f in level.children().filter(Node::is_element) {
        let value = text(&f);
        match f.tag_name().name() {
            "n-cpus" => s.n_cpus = value.and_then(|v| v.parse().ok()).filter(|&n| n > 0),
            "ram" => s.ram_bytes = value.and_then(|v| v.parse().ok()).filter(|&n| n > 0),
            "storage" => s.storage_bytes = value.and_then(|v| v.parse().ok()).filter(|&n| n > 0),
            _ => {}
        }
    }
    s
}

fn parse_devices(devices: &Node, out: &mut Devices) {
    for dev in devices.children().filter(|n| is(n, "device")) {
        let Some(id) = dev.attribute("id") else { continue };
        if let Some((_, field)) = DEVICE_IDS.iter().find(|(known, _)| *known == id.trim()) {
            *field(out) = Some(bool_attr(&dev, "supported", true));
        }
    }
}

fn parse_firmware(fw: &Node, out: &mut FirmwareSupport) {
    if fw.attribute("arch").map(str::trim) != Some("x86_64") {
        return;
    }
    let supported = Some(bool_attr(fw, "supported", true));
    match fw.attribute("type").map(str::trim) {
        Some("efi") => out.efi = supported,
        Some("bios") => out.bios = supported,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0"?>
<libosinfo version="0.0.1">
  <os id="http://example.org/demo/2">
    <short-id>demo2</short-id>
    <short-id>demotwo</short-id>
    <name xml:lang="de">Demo Zwei</name>
    <name>Demo 2</name>
    <vendor>Example &amp; Co</vendor>
    <family>linux</family>
    <distro>demo</distro>
    <version>2</version>
    <release-date>2020-01-02</release-date>
    <eol-date>2030-01-01</eol-date>
    <release-status>prerelease</release-status>
    <derives-from id="http://example.org/demo/1"/>
    <upgrades id="http://example.org/demo/1"/>
    <devices>
      <device id="http://pcisig.com/pci/1af4/1041"/>
      <device id="http://pcisig.com/pci/1af4/1050" supported="false"/>
      <device id="http://pcisig.com/pci/ffff/0000"/>
    </devices>
    <firmware arch="x86_64" type="efi"/>
    <firmware arch="x86_64" type="bios" supported="false"/>
    <firmware arch="aarch64" type="efi" supported="false"/>
    <resources arch="all">
      <minimum><n-cpus>1</n-cpus><ram>1073741824</ram></minimum>
      <recommended><ram>2147483648</ram><storage>21474836480</storage></recommended>
    </resources>
    <media arch="x86_64">
      <iso>
        <volume-id>Demo 2 amd64</volume-id>
        <system-id>LINUX</system-id>
        <volume-size>1234</volume-size>
      </iso>
    </media>
    <media arch="x86_64"><url>http://no.iso.here/</url></media>
    <tree arch="x86_64"><treeinfo><family>Not the family</family></treeinfo></tree>
  </os>
</libosinfo>"#;

    #[test]
    fn reads_the_fields_hangar_uses() {
        let drafts = parse_file(SAMPLE).unwrap();
        assert_eq!(drafts.len(), 1);
        let d = &drafts[0];
        let e = &d.entry;
        assert_eq!(e.id, "http://example.org/demo/2");
        assert_eq!(e.short_ids, ["demo2", "demotwo"]);
        assert_eq!(e.name, "Demo 2");
        assert_eq!(e.vendor, "Example & Co");
        assert_eq!(e.family, "linux");
        assert_eq!(e.release_status, ReleaseStatus::Prerelease);
        assert_eq!(e.derives_from, ["http://example.org/demo/1"]);
        assert_eq!(e.media.len(), 1);
        let m = &e.media[0];
        assert_eq!(m.volume_id.as_ref().unwrap().source(), "Demo 2 amd64");
        assert_eq!(m.volume_size, Some(1234));
        assert_eq!(d.devices.virtio_net, Some(true));
        assert_eq!(d.devices.virtio_gpu, Some(false));
        assert_eq!(d.devices.virtio_block, None);
        assert!(d.firmware.efi_required());
        assert_eq!(d.resources[0].resources.recommended.ram_bytes, Some(2 << 30));
        assert_eq!(d.resources[0].resources.minimum.n_cpus, Some(1));
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        assert!(parse_file("<libosinfo><os id='x'>").is_err());
        assert!(parse_file("<other/>").unwrap_err().contains("<other>"));
        assert!(parse_file("<!DOCTYPE x [<!ENTITY a 'b'>]><libosinfo/>").is_err());
        // An <os> without id is skipped.
        assert!(parse_file("<libosinfo><os><name>x</name></os></libosinfo>")
            .unwrap()
            .is_empty());
    }
}
