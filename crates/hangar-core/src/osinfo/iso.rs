//! The identity of an ISO 9660 image, read from its volume descriptors (ECMA-119 §8).
//!
//! Only a handful of 2048-byte sectors are read: the descriptor set from sector 16 up to its
//! terminator, and the El Torito boot catalog when there is one. A 6 GB installer costs the
//! same as a 20 MB one.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes per logical sector of an ISO 9660 image.
pub const SECTOR: u64 = 2048;
/// The volume descriptor set starts at sector 16 (the first 32 KiB are the "system area").
const FIRST_DESCRIPTOR: u64 = 16;
/// Give up on a descriptor set this long without a terminator.
const MAX_DESCRIPTORS: u64 = 64;
/// The smallest file that can hold a Primary Volume Descriptor.
pub const MIN_ISO_BYTES: u64 = (FIRST_DESCRIPTOR + 1) * SECTOR;

const STANDARD_ID: &[u8] = b"CD001";
const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";
/// El Torito platform id of UEFI boot images.
const PLATFORM_EFI: u8 = 0xEF;

/// What an image says about itself in its Primary Volume Descriptor, plus its boot records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IsoInfo {
    /// System identifier (`LINUX`, `Win32`, often empty), trimmed.
    pub system_id: String,
    /// Volume identifier, the label (`Debian 12.5.0 amd64 n`, `CCCOMA_X64FRE_EN-US_DV9`), trimmed.
    pub volume_id: String,
    /// Publisher identifier, trimmed.
    pub publisher_id: String,
    /// Application identifier, trimmed.
    pub application_id: String,
    /// Volume space size × logical block size, in bytes (osinfo's `<volume-size>`).
    pub volume_size: u64,
    /// An El Torito boot record is present (the image boots from a CD drive).
    pub el_torito: bool,
    /// The boot catalog holds a UEFI boot image (platform id 0xEF).
    pub efi_boot: bool,
}

/// Why an image could not be read. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum IsoError {
    #[error("{} does not exist: choose another file", path.display())]
    NotFound { path: PathBuf },
    #[error(
        "cannot read {}: permission denied. Make it readable (`chmod a+r {}`) or copy it into one \
         of your folders",
        path.display(),
        path.display()
    )]
    PermissionDenied { path: PathBuf },
    #[error("{} is a folder, not an image: choose the .iso file", path.display())]
    IsDirectory { path: PathBuf },
    #[error(
        "{} is too small to be an ISO 9660 image ({size} bytes, at least {MIN_ISO_BYTES} needed): \
         the download is probably incomplete; download it again",
        path.display()
    )]
    TooSmall { path: PathBuf, size: u64 },
    #[error("{} is not an ISO 9660 image: choose an installation .iso file", path.display())]
    NotIso { path: PathBuf },
    #[error(
        "{} is a UDF image without an ISO 9660 descriptor, so its system cannot be recognised: \
         choose the operating system from the list",
        path.display()
    )]
    UdfOnly { path: PathBuf },
    #[error("cannot read {}: {reason}. Check the disk, or copy the file to another one", path.display())]
    Read { path: PathBuf, reason: String },
}

impl IsoError {
    fn from_io(path: &Path, e: &io::Error) -> Self {
        let path = path.to_path_buf();
        match e.kind() {
            io::ErrorKind::NotFound => IsoError::NotFound { path },
            io::ErrorKind::PermissionDenied => IsoError::PermissionDenied { path },
            io::ErrorKind::IsADirectory => IsoError::IsDirectory { path },
            _ => IsoError::Read {
                path,
                reason: e.to_string(),
            },
        }
    }
}

/// Read the identity of the image at `path`.
pub fn read_iso_info(path: &Path) -> Result<IsoInfo, IsoError> {
    let file = File::open(path).map_err(|e| IsoError::from_io(path, &e))?;
    let meta = file.metadata().map_err(|e| IsoError::from_io(path, &e))?;
    if meta.is_dir() {
        return Err(IsoError::IsDirectory { path: path.into() });
    }
    // Block devices report 0 here; their reads tell the truth instead.
    let size = meta.len();
    if meta.is_file() && size < MIN_ISO_BYTES {
        return Err(IsoError::TooSmall {
            path: path.into(),
            size,
        });
    }
    let mut sector = vec![0u8; SECTOR as usize];
    let mut info: Option<IsoInfo> = None;
    let mut catalog: Option<u64> = None;
    for n in FIRST_DESCRIPTOR..FIRST_DESCRIPTOR + MAX_DESCRIPTORS {
        match read_sector(&file, n, &mut sector) {
            Ok(true) => {}
            Ok(false) if n == FIRST_DESCRIPTOR => {
                return Err(IsoError::TooSmall {
                    path: path.into(),
                    size,
                })
            }
            Ok(false) => break,
            Err(e) => return Err(IsoError::from_io(path, &e)),
        }
        if &sector[1..6] != STANDARD_ID {
            if n == FIRST_DESCRIPTOR && is_udf_marker(&sector) {
                return Err(IsoError::UdfOnly { path: path.into() });
            }
            break;
        }
        match sector[0] {
            0 if sector[7..7 + EL_TORITO_ID.len()] == *EL_TORITO_ID => {
                catalog = Some(u64::from(le_u32(&sector, 71)));
            }
            1 if info.is_none() => info = Some(parse_pvd(&sector)),
            255 => break,
            _ => {}
        }
    }
    let Some(mut info) = info else {
        return Err(IsoError::NotIso { path: path.into() });
    };
    if let Some(lba) = catalog {
        info.el_torito = true;
        // A catalog we cannot read only costs the EFI hint, not the identification.
        match read_sector(&file, lba, &mut sector) {
            Ok(true) => info.efi_boot = catalog_has_efi(&sector),
            Ok(false) => tracing::debug!(path = %path.display(), lba, "El Torito catalog beyond the end"),
            Err(e) => tracing::debug!(path = %path.display(), lba, "El Torito catalog unreadable: {e}"),
        }
    }
    Ok(info)
}

/// Read sector `n`; `Ok(false)` when the file ends before it.
fn read_sector(file: &File, n: u64, buf: &mut [u8]) -> io::Result<bool> {
    let Some(offset) = n.checked_mul(SECTOR) else {
        return Ok(false);
    };
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// ECMA-167 volume recognition sequence (UDF without an ISO 9660 bridge).
fn is_udf_marker(sector: &[u8]) -> bool {
    matches!(&sector[1..6], b"BEA01" | b"NSR02" | b"NSR03" | b"TEA01")
}

/// Primary Volume Descriptor fields (0-based offsets of ECMA-119 §8.4).
fn parse_pvd(s: &[u8]) -> IsoInfo {
    let blocks = u64::from(le_u32(s, 80));
    let block_size = u64::from(u16::from_le_bytes([s[128], s[129]]));
    IsoInfo {
        system_id: field(s, 8, 32),
        volume_id: field(s, 40, 32),
        publisher_id: field(s, 318, 128),
        application_id: field(s, 574, 128),
        volume_size: blocks * block_size,
        el_torito: false,
        efi_boot: false,
    }
}

/// A space- or NUL-padded text field, trimmed.
fn field(s: &[u8], start: usize, len: usize) -> String {
    let raw = &s[start..start + len];
    let text = String::from_utf8_lossy(raw);
    text.trim_matches(|c: char| c == ' ' || c == '\0').to_string()
}

fn le_u32(s: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]])
}

/// Whether an El Torito boot catalog sector lists a UEFI image: in the validation entry's
/// platform id or in a section header.
fn catalog_has_efi(cat: &[u8]) -> bool {
    let valid = cat[0] == 1 && cat[30] == 0x55 && cat[31] == 0xAA && {
        let sum = cat[..32]
            .chunks_exact(2)
            .fold(0u16, |acc, w| acc.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
        sum == 0
    };
    if !valid {
        return false;
    }
    if cat[1] == PLATFORM_EFI {
        return true;
    }
    // After the validation and default entries come section headers (0x90 more follow,
    // 0x91 last), each followed by its entries (boot indicator 0x88/0x00, extensions 0x44).
    let mut remaining_after_final: Option<u16> = None;
    for record in cat.chunks_exact(32).skip(2) {
        if record.iter().all(|&b| b == 0) {
            break;
        }
        if let Some(left) = remaining_after_final.as_mut() {
            if *left == 0 {
                break;
            }
            *left -= 1;
            continue;
        }
        match record[0] {
            0x90 | 0x91 => {
                if record[1] == PLATFORM_EFI {
                    return true;
                }
                if record[0] == 0x91 {
                    remaining_after_final = Some(u16::from_le_bytes([record[2], record[3]]));
                }
            }
            0x88 | 0x00 | 0x44 => {}
            _ => break,
        }
    }
    false
}

/// Writing small synthetic images for tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Identity fields of a synthetic image.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Pvd<'a> {
        pub system: &'a str,
        pub volume: &'a str,
        pub publisher: &'a str,
        pub application: &'a str,
        /// In 2048-byte blocks.
        pub blocks: u32,
        /// El Torito platform ids of the boot catalog's sections (x86 = 0 in the validation entry).
        pub boot_platforms: Option<&'a [u8]>,
    }

    fn put(buf: &mut [u8], at: usize, len: usize, text: &str) {
        let slot = &mut buf[at..at + len];
        slot.fill(b' ');
        slot[..text.len()].copy_from_slice(text.as_bytes());
    }

    /// Write a sparse 64 KiB image holding the descriptors (and a boot catalog at sector 20).
    pub(crate) fn write_iso(path: &Path, pvd: &Pvd) {
        let file = File::create(path).unwrap();
        file.set_len(64 * 1024).unwrap();
        let mut s = vec![0u8; SECTOR as usize];
        s[0] = 1;
        s[1..6].copy_from_slice(STANDARD_ID);
        s[6] = 1;
        put(&mut s, 8, 32, pvd.system);
        put(&mut s, 40, 32, pvd.volume);
        s[80..84].copy_from_slice(&pvd.blocks.to_le_bytes());
        s[84..88].copy_from_slice(&pvd.blocks.to_be_bytes());
        s[128..130].copy_from_slice(&2048u16.to_le_bytes());
        s[130..132].copy_from_slice(&2048u16.to_be_bytes());
        put(&mut s, 318, 128, pvd.publisher);
        put(&mut s, 574, 128, pvd.application);
        file.write_all_at(&s, 16 * SECTOR).unwrap();
        let mut next = 17;
        if let Some(platforms) = pvd.boot_platforms {
            let mut b = vec![0u8; SECTOR as usize];
            b[1..6].copy_from_slice(STANDARD_ID);
            b[6] = 1;
            b[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
            b[71..75].copy_from_slice(&20u32.to_le_bytes());
            file.write_all_at(&b, 17 * SECTOR).unwrap();
            file.write_all_at(&catalog(platforms), 20 * SECTOR).unwrap();
            next = 18;
        }
        let mut t = vec![0u8; SECTOR as usize];
        t[0] = 255;
        t[1..6].copy_from_slice(STANDARD_ID);
        t[6] = 1;
        file.write_all_at(&t, next * SECTOR).unwrap();
    }

    /// A boot catalog: validation entry (x86), default entry, then one section per platform.
    pub(crate) fn catalog(platforms: &[u8]) -> Vec<u8> {
        let mut c = vec![0u8; SECTOR as usize];
        c[0] = 1;
        c[30] = 0x55;
        c[31] = 0xAA;
        let sum = c[..32]
            .chunks_exact(2)
            .fold(0u16, |acc, w| acc.wrapping_add(u16::from_le_bytes([w[0], w[1]])));
        c[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        c[32] = 0x88;
        for (i, &platform) in platforms.iter().enumerate() {
            let at = 64 + i * 64;
            c[at] = if i + 1 == platforms.len() { 0x91 } else { 0x90 };
            c[at + 1] = platform;
            c[at + 2] = 1;
            c[at + 32] = 0x88;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn reads_pvd_fields_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.iso");
        write_iso(
            &path,
            &Pvd {
                system: "LINUX",
                volume: "Debian 12.5.0 amd64 n",
                publisher: "Debian Project",
                application: "XORRISO-1.5.4",
                blocks: 321_000,
                boot_platforms: None,
            },
        );
        let info = read_iso_info(&path).unwrap();
        assert_eq!(info.system_id, "LINUX");
        assert_eq!(info.volume_id, "Debian 12.5.0 amd64 n");
        assert_eq!(info.publisher_id, "Debian Project");
        assert_eq!(info.application_id, "XORRISO-1.5.4");
        assert_eq!(info.volume_size, 321_000 * 2048);
        assert!(!info.el_torito && !info.efi_boot);
    }

    #[test]
    fn el_torito_with_and_without_efi() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.iso");
        for (platforms, efi) in [(&[][..], false), (&[0xEF][..], true), (&[0x00, 0xEF][..], true)] {
            write_iso(
                &path,
                &Pvd {
                    volume: "X",
                    boot_platforms: Some(platforms),
                    ..Default::default()
                },
            );
            let info = read_iso_info(&path).unwrap();
            assert!(info.el_torito);
            assert_eq!(info.efi_boot, efi, "{platforms:?}");
        }
    }

    #[test]
    fn bad_catalog_checksum_is_no_efi() {
        let mut c = catalog(&[0xEF]);
        c[4] ^= 1;
        assert!(!catalog_has_efi(&c));
        assert!(catalog_has_efi(&catalog(&[0xEF])));
    }

    #[test]
    fn errors_say_what_happened() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.iso");
        std::fs::write(&small, vec![0u8; 4096]).unwrap();
        let e = read_iso_info(&small).unwrap_err();
        assert!(matches!(e, IsoError::TooSmall { size: 4096, .. }), "{e}");
        assert!(e.to_string().contains("download it again"));

        let zeros = dir.path().join("zeros.img");
        std::fs::File::create(&zeros).unwrap().set_len(1 << 20).unwrap();
        let e = read_iso_info(&zeros).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{} is not an ISO 9660 image: choose an installation .iso file",
                zeros.display()
            )
        );

        let udf = dir.path().join("udf.iso");
        let f = std::fs::File::create(&udf).unwrap();
        f.set_len(1 << 20).unwrap();
        f.write_all_at(b"\0BEA01\x01", 16 * SECTOR).unwrap();
        assert!(matches!(read_iso_info(&udf), Err(IsoError::UdfOnly { .. })));

        assert!(matches!(
            read_iso_info(dir.path()),
            Err(IsoError::IsDirectory { .. })
        ));
        let e = read_iso_info(&dir.path().join("missing.iso")).unwrap_err();
        assert!(matches!(e, IsoError::NotFound { .. }));
    }

    #[test]
    fn unreadable_file_names_the_fix() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let e = IsoError::from_io(Path::new("/isos/x.iso"), &denied);
        assert_eq!(
            e.to_string(),
            "cannot read /isos/x.iso: permission denied. Make it readable (`chmod a+r /isos/x.iso`) \
             or copy it into one of your folders"
        );
        if nix::unistd::geteuid().is_root() {
            eprintln!("running as root: permission checks do not apply");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.iso");
        write_iso(&path, &Pvd::default());
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
        let e = read_iso_info(&path).unwrap_err();
        assert!(matches!(e, IsoError::PermissionDenied { .. }));
        assert!(e.to_string().contains("chmod a+r"), "{e}");
    }

    /// The project's test guest (tests/guest/build.sh): a grub-mkrescue hybrid BIOS+UEFI image.
    #[test]
    fn real_test_guest_image() {
        let dir = std::env::var_os("HANGAR_TEST_GUEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-guest"));
        let path = dir.join("guest.iso");
        if !path.exists() {
            eprintln!("{} not built (tests/guest/build.sh): skipped", path.display());
            return;
        }
        let info = read_iso_info(&path).unwrap();
        assert_eq!(info.volume_id, "HANGAR_GUEST");
        assert!(info.el_torito && info.efi_boot, "{info:?}");
        assert!(info.volume_size > 1 << 20, "{info:?}");
    }
}
