//! SPICE USB redirection: the client's own USB devices sent to the guest over the VM's
//! `usb-redir` channels (QEMU `-chardev spicevmc,name=usbredir` + `-device usb-redir`).
//!
//! This is not passthrough: the device stays opened by this client process (spice-client-glib's
//! `SpiceUsbDeviceManager`, on libusb) and its traffic travels through the SPICE connection, so it
//! also works when the viewer runs on another computer than QEMU. It needs a connected SPICE
//! session and free redirection channels in the VM.
//!
//! ```text
//!  DisplayView::usb_redirection()  -> UsbRedirection   (SPICE session only)
//!    devices()                      RedirDevice { description, connected, problem }
//!    connect_device / disconnect_device (async, result in a callback)
//!    connect_changed                device plugged or unplugged, channels taken or freed
//! ```

use std::rc::Rc;

use gtk::glib;
use spice_client_glib as spice;

use crate::error::DisplayError;

/// `printf` format of a device description: manufacturer, product, `[vid:pid]`, bus, address.
const DESCRIPTION_FORMAT: &str = "%s %s %s at %d-%d";

/// One USB device of this computer as SPICE redirection sees it.
#[derive(Debug, Clone)]
pub struct RedirDevice {
    /// Manufacturer, product, `[vendor:product]` and `bus-address`, as libusb reports them.
    pub description: String,
    /// Currently redirected to the guest.
    pub connected: bool,
    /// Why it cannot be redirected now (filtered out, no free channel, …), if so.
    pub problem: Option<String>,
    device: spice::UsbDevice,
}

/// The SPICE session's USB device manager. Cheap to clone; all clones are the same manager.
#[derive(Clone, Debug)]
pub struct UsbRedirection {
    manager: spice::UsbDeviceManager,
}

impl UsbRedirection {
    /// The manager of `session` (one per session). Fails when spice-client-glib was built
    /// without USB redirection or libusb cannot start (e.g. a computer without USB).
    pub(crate) fn for_session(session: &spice::Session) -> Result<UsbRedirection, DisplayError> {
        let manager = spice::UsbDeviceManager::get(session)
            .map_err(|e| DisplayError::UsbRedirection(unavailable_reason(&e.to_string())))?;
        Ok(UsbRedirection { manager })
    }

    /// The devices that could be redirected, with their state. Empty on a computer without USB.
    pub fn devices(&self) -> Vec<RedirDevice> {
        self.manager
            .devices()
            .into_iter()
            .map(|mut device| {
                let description = device
                    .description(Some(DESCRIPTION_FORMAT))
                    .map(|d| d.trim().to_string())
                    .unwrap_or_default();
                let connected = self.manager.is_device_connected(&device);
                let problem = if connected {
                    None
                } else {
                    self.manager
                        .can_redirect_device(&device)
                        .err()
                        .map(|e| e.to_string())
                };
                RedirDevice {
                    description,
                    connected,
                    problem,
                    device,
                }
            })
            .collect()
    }

    /// How many more devices the VM can take (its `usb-redir` channels not in use).
    pub fn free_channels(&self) -> i32 {
        self.manager.free_channels()
    }

    /// Redirects `device` to the guest; `done` gets the outcome.
    pub fn connect_device(
        &self,
        device: &RedirDevice,
        done: impl FnOnce(Result<(), DisplayError>) + 'static,
    ) {
        let what = device.description.clone();
        self.manager
            .connect_device_async(&device.device, gtk::gio::Cancellable::NONE, move |result| {
                done(result.map_err(|e| DisplayError::UsbRedirect {
                    device: what,
                    reason: e.to_string(),
                }))
            });
    }

    /// Gives `device` back to this computer; `done` gets the outcome.
    pub fn disconnect_device(
        &self,
        device: &RedirDevice,
        done: impl FnOnce(Result<(), DisplayError>) + 'static,
    ) {
        let what = device.description.clone();
        self.manager
            .disconnect_device_async(&device.device, gtk::gio::Cancellable::NONE, move |result| {
                done(result.map_err(|e| DisplayError::UsbRedirect {
                    device: what,
                    reason: e.to_string(),
                }))
            });
    }

    /// Calls `f` whenever the list or a device's state may have changed (plugged, unplugged,
    /// channel taken or freed). Handlers stay until [`ChangeWatch`] is dropped.
    pub fn connect_changed(&self, f: impl Fn() + 'static) -> ChangeWatch {
        let f = Rc::new(f);
        let mut ids = Vec::with_capacity(3);
        let g = f.clone();
        ids.push(self.manager.connect_device_added(move |_, _| g()));
        let g = f.clone();
        ids.push(self.manager.connect_device_removed(move |_, _| g()));
        ids.push(self.manager.connect_free_channels_notify(move |_| f()));
        ChangeWatch {
            manager: self.manager.clone(),
            ids,
        }
    }

    /// Calls `f(description, error)` when a redirected device fails (e.g. the guest rejected it).
    pub fn connect_device_error(&self, f: impl Fn(&str, &str) + 'static) -> ChangeWatch {
        let id = self.manager.connect_device_error(move |_, device, error| {
            let mut device = device.clone();
            let what = device
                .description(Some(DESCRIPTION_FORMAT))
                .map(|d| d.to_string())
                .unwrap_or_default();
            f(&what, &error.to_string());
        });
        ChangeWatch {
            manager: self.manager.clone(),
            ids: vec![id],
        }
    }
}

/// Signal handlers of a [`UsbRedirection`], disconnected on drop.
#[derive(Debug)]
pub struct ChangeWatch {
    manager: spice::UsbDeviceManager,
    ids: Vec<glib::SignalHandlerId>,
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.ids) {
            glib::prelude::ObjectExt::disconnect(&self.manager, id);
        }
    }
}

/// Turns spice-client-glib's "cannot start" message into a sentence that says what to do.
fn unavailable_reason(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    if lower.contains("not compiled") || lower.contains("not supported") {
        format!("{error}; this spice-client-glib was built without USB redirection (install a build with usbredir support)")
    } else if lower.contains("libusb") || lower.contains("usb support") || lower.contains("[-99]") {
        format!("{error}; this computer offers no USB devices to redirect (no USB bus or no access to /dev/bus/usb)")
    } else {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_say_what_is_missing() {
        let r = unavailable_reason("USB redirection support not compiled");
        assert!(r.contains("built without USB redirection"), "{r}");
        let r = unavailable_reason("Error initializing USB support: Other error [-99]");
        assert!(r.contains("no USB bus"), "{r}");
        assert_eq!(unavailable_reason("something else"), "something else");
    }
}
