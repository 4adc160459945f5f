//! Hangar's embedded VM console: a GTK 4 widget that shows a QEMU display over VNC (libgvnc)
//! or SPICE (spice-client-glib) and forwards keyboard and pointer input.
//!
//! GTK 4 has no VNC or SPICE widget (gtk-vnc's and spice-gtk's are GTK 3), so this crate builds
//! one on the protocol libraries. It holds no application logic: the application connects it to
//! a socket, reacts to its signals and maps its own actions (zoom, fullscreen, send keys) onto
//! its methods. It uses no GTK API newer than 4.8.
//!
//! * [`DisplayView`]: the widget and its API.
//! * Pictures: damage is gathered and turned into one texture per frame-clock tick (a cairo
//!   surface under GTK's cairo renderer; [`frame`]). `cargo bench --bench console_vs_gvncviewer`
//!   compares the whole client with gvncviewer.
//! * Keyboard: by scancode, so the guest's layout decides the characters ([`keymap`]).
//! * Grab: a click grabs; the release chord (default `Control_L+Alt_L`) always ungrabs.
//!
//! ```no_run
//! use hangar_display::DisplayView;
//! let view = DisplayView::new();
//! view.connect_state_changed(|_, state| println!("console: {state:?}"));
//! if let Err(e) = view.connect_vnc_unix("/run/user/1000/hangar/vm1/vnc.sock") {
//!     eprintln!("{e}");
//! }
//! ```

mod backend;
pub mod error;
pub mod frame;
pub mod geometry;
pub mod input;
pub mod keymap;
mod spice;
pub mod usbredir;
mod vnc;
mod widget;

pub use error::DisplayError;
pub use geometry::ScalingMode;
pub use usbredir::{ChangeWatch, RedirDevice, UsbRedirection};
pub use widget::{ConnectionState, DisplayView, FrameStats, DEFAULT_FULLSCREEN_KEY, DEFAULT_RELEASE_CHORD};
