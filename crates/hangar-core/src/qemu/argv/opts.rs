//! Building QEMU option strings (`driver,key=value,...`) and the argv vector.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Escape a value for a QEMU option string: QEMU splits on `,` and reads `,,` as a literal
/// comma. Every name and path placed inside an option string goes through this.
pub fn qemu_opt_escape(value: impl AsRef<OsStr>) -> OsString {
    let bytes = value.as_ref().as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 4);
    for &b in bytes {
        out.push(b);
        if b == b',' {
            out.push(b',');
        }
    }
    OsString::from_vec(out)
}

/// One option string. The head (`socket`, `virtio-blk-pci`, …) is a fixed word of ours;
/// every value is escaped.
#[derive(Debug, Clone)]
pub(crate) struct Opt(OsString);

impl Opt {
    /// Start with a fixed word of ours (a driver or backend name; never user text).
    pub(crate) fn new(head: &str) -> Self {
        Opt(OsString::from(head))
    }

    /// Start with `key=value` (value escaped).
    pub(crate) fn kv_first(key: &str, value: impl AsRef<OsStr>) -> Self {
        let mut s = OsString::from(key);
        s.push("=");
        s.push(qemu_opt_escape(value));
        Opt(s)
    }

    /// Start with a fixed prefix followed by an escaped value (`unix:<path>`).
    pub(crate) fn prefixed(prefix: &str, value: impl AsRef<OsStr>) -> Self {
        let mut s = OsString::from(prefix);
        s.push(qemu_opt_escape(value));
        Opt(s)
    }

    /// Append `,key=value` (value escaped).
    pub(crate) fn kv(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.0.push(",");
        self.0.push(key);
        self.0.push("=");
        self.0.push(qemu_opt_escape(value));
        self
    }

    /// Append `,key=value` when `value` is `Some`.
    pub(crate) fn kv_opt(self, key: &str, value: Option<impl AsRef<OsStr>>) -> Self {
        match value {
            Some(v) => self.kv(key, v),
            None => self,
        }
    }

    /// Append `,key=on` when `cond`.
    pub(crate) fn on_if(self, key: &str, cond: bool) -> Self {
        if cond {
            self.kv(key, "on")
        } else {
            self
        }
    }
}

/// The argument vector under construction.
#[derive(Debug, Default)]
pub(crate) struct Args(pub(crate) Vec<OsString>);

impl Args {
    /// A flag without a value (`-nodefaults`).
    pub(crate) fn flag(&mut self, flag: &str) {
        self.0.push(flag.into());
    }

    /// A flag and its value as given (for values that are not option strings, like `-pidfile`).
    pub(crate) fn raw(&mut self, flag: &str, value: impl Into<OsString>) {
        self.0.push(flag.into());
        self.0.push(value.into());
    }

    /// A flag and an option string.
    pub(crate) fn opt(&mut self, flag: &str, opt: Opt) {
        self.raw(flag, opt.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn commas_are_doubled_and_nothing_else_changes() {
        assert_eq!(qemu_opt_escape("a,b,,c"), OsString::from("a,,b,,,,c"));
        assert_eq!(qemu_opt_escape("/x y=z:é"), OsString::from("/x y=z:é"));
        let raw = OsStr::from_bytes(b"\xff,\xfe");
        assert_eq!(qemu_opt_escape(raw).as_bytes(), b"\xff,,\xfe");
    }

    #[test]
    fn opt_escapes_values_but_not_keys_or_heads() {
        let o = Opt::new("socket")
            .kv("path", "/a,b")
            .kv_opt("x", None::<&str>)
            .kv_opt("y", Some("1"))
            .on_if("server", true)
            .on_if("no", false);
        assert_eq!(o.0, OsString::from("socket,path=/a,,b,y=1,server=on"));
        assert_eq!(Opt::prefixed("unix:", "/r,s").0, OsString::from("unix:/r,,s"));
        assert_eq!(Opt::kv_first("guest", "a,b").0, OsString::from("guest=a,,b"));
    }
}
