//! The console's widget tree, built once. Buttons activate actions of the `console` group
//! (see [`super::actions`]) or send inputs to the component.
//!
//! ```text
//! GtkStack (root)  "attached" | "detached"
//! ├── GtkBox slot ─ GtkBox content (moves into its own window when detached)
//! │                 ├── GtkBox.toolbar  Send Key ▾ · View ▾ · Screenshot · grab hint · [extra menus] · Detach · Fullscreen
//! │                 └── GtkOverlay
//! │                     ├── GtkStack pages  "connecting" | "off" | "display" | "disconnected" | "headless" | "error"
//! │                     └── GtkRevealer (fullscreen only)  Send Key ▾ · Release · Screenshot · Leave Fullscreen
//! └── AdwStatusPage "detached"  (Show Here)
//! ```

use adw::prelude::*;
use gtk::gio;
use hangar_display::DisplayView;
use relm4::Sender;

use super::fullscreen::OverlayBar;
use super::keys;
use super::ConsoleInput;
use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};

/// Widgets the component changes after building.
pub struct Widgets {
    pub slot: gtk::Box,
    pub content: gtk::Box,
    pub toolbar: gtk::Box,
    pub pages: gtk::Stack,
    pub view: DisplayView,
    pub grab_hint: gtk::Label,
    pub busy: adw::StatusPage,
    pub disconnected: adw::StatusPage,
    pub error: adw::StatusPage,
    pub fullscreen_button: gtk::Button,
    pub detach_button: gtk::Button,
    /// Send Key and View: usable only with a live display.
    pub menus: [gtk::MenuButton; 2],
    /// Room for the Clipboard menu (`clipboard::ClipMenu`, added by the component) and the USB menu.
    pub extra_menus: gtk::Box,
    pub bar: OverlayBar,
}

/// The console's few style rules, added once per display (kept here rather than in the
/// application style sheet so that the console is self-contained).
const CSS: &str = "
.console-toolbar { border-bottom: 1px solid alpha(currentColor, 0.15); }
.console-osd-bar {
  background-color: rgba(36, 36, 36, 0.85);
  color: white;
  border: 1px solid rgba(255, 255, 255, 0.15);
  border-radius: 12px;
  padding: 4px;
}
.console-osd-bar button { color: white; }
";

fn install_css() {
    thread_local! {
        static INSTALLED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if INSTALLED.with(|done| done.replace(true)) {
        return;
    }
    let Some(display) = gtk::gdk::Display::default() else {
        return;
    };
    let provider = gtk::CssProvider::new();
    provider.connect_parsing_error(|_, section, error| {
        tracing::warn!(%section, "console style sheet: {error}");
    });
    provider.load_from_data(CSS);
    gtk::style_context_add_provider_for_display(
        &display,
        &provider,
        gtk::STYLE_PROVIDER_PRIORITY_APPLICATION,
    );
}

/// Page names of the inner stack.
pub mod page {
    pub const CONNECTING: &str = "connecting";
    pub const OFF: &str = "off";
    pub const DISPLAY: &str = "display";
    pub const DISCONNECTED: &str = "disconnected";
    pub const HEADLESS: &str = "headless";
    pub const ERROR: &str = "error";
}

fn icon_button(icon: &str, tooltip: &str, action: &str) -> gtk::Button {
    let button = gtk::Button::builder()
        .icon_name(icon)
        .tooltip_text(tooltip)
        .action_name(action)
        .build();
    button.set_accessible_label(tooltip);
    button
}

fn menu_button(icon: &str, tooltip: &str, model: &gio::Menu) -> gtk::MenuButton {
    let button = gtk::MenuButton::builder()
        .icon_name(icon)
        .tooltip_text(tooltip)
        .menu_model(model)
        .build();
    button.set_accessible_label(tooltip);
    button
}

/// A labelled button for the fullscreen bar.
fn osd_button(icon: &str, label: &str, action: &str) -> gtk::Button {
    let button = gtk::Button::builder()
        .child(&adw::ButtonContent::builder().icon_name(icon).label(label).build())
        .action_name(action)
        .build();
    button.add_css_class("flat");
    button.set_accessible_label(label);
    button
}

fn menu_item(label: &str, action: &str, target: Option<&str>, accel: Option<&str>) -> gio::MenuItem {
    let item = gio::MenuItem::new(Some(label), None);
    match target {
        Some(t) => item.set_action_and_target_value(Some(action), Some(&t.to_variant())),
        None => item.set_detailed_action(action),
    }
    if let Some(accel) = accel {
        item.set_attribute_value("accel", Some(&accel.to_variant()));
    }
    item
}

/// Send Key: the usual combinations, and Ctrl+Alt+F1…F12 in a submenu.
pub fn send_key_menu() -> gio::Menu {
    let main = gio::Menu::new();
    for combo in keys::MAIN_COMBOS {
        main.append_item(&menu_item(
            &combo.label(),
            "console.send-keys",
            Some(combo.id),
            None,
        ));
    }
    let terminals = gio::Menu::new();
    for combo in keys::function_combos() {
        terminals.append_item(&menu_item(
            &combo.label(),
            "console.send-keys",
            Some(combo.id),
            None,
        ));
    }
    let menu = gio::Menu::new();
    menu.append_section(None, &main);
    let more = gio::Menu::new();
    more.append_submenu(Some(&gettext("Virtual Terminals")), &terminals);
    menu.append_section(None, &more);
    menu
}

/// View: scaling, zoom and the two resize commands.
fn view_menu() -> gio::Menu {
    let scaling = gio::Menu::new();
    scaling.append_item(&menu_item(
        &gettext("Fit to Window"),
        "console.scaling",
        Some("fit"),
        None,
    ));
    scaling.append_item(&menu_item(
        &gettext("Actual Size (1:1)"),
        "console.scaling",
        Some("one"),
        None,
    ));
    scaling.append_item(&menu_item(
        &gettext("Fill Window"),
        "console.scaling",
        Some("fill"),
        None,
    ));
    let zoom = gio::Menu::new();
    zoom.append_item(&menu_item(
        &gettext("Zoom In"),
        "console.zoom-in",
        None,
        Some("<Control>plus"),
    ));
    zoom.append_item(&menu_item(
        &gettext("Zoom Out"),
        "console.zoom-out",
        None,
        Some("<Control>minus"),
    ));
    zoom.append_item(&menu_item(
        &gettext("Reset Zoom"),
        "console.zoom-reset",
        None,
        Some("<Control>0"),
    ));
    let resize = gio::Menu::new();
    resize.append_item(&menu_item(
        &gettext("Resize Guest to Window"),
        "console.resize-guest",
        None,
        None,
    ));
    resize.append_item(&menu_item(
        &gettext("Resize Window to Guest"),
        "console.resize-window",
        None,
        None,
    ));
    let menu = gio::Menu::new();
    menu.append_section(None, &scaling);
    menu.append_section(None, &zoom);
    menu.append_section(None, &resize);
    menu
}

struct Toolbar {
    bar: gtk::Box,
    grab_hint: gtk::Label,
    extra_menus: gtk::Box,
    detach: gtk::Button,
    fullscreen: gtk::Button,
    menus: [gtk::MenuButton; 2],
}

fn toolbar(view_tooltip_fullscreen: &str) -> Toolbar {
    let bar = gtk::Box::new(gtk::Orientation::Horizontal, 0);
    bar.add_css_class("toolbar");
    bar.add_css_class("console-toolbar");
    let send = menu_button("input-keyboard-symbolic", &gettext("Send Key"), &send_key_menu());
    bar.append(&send);
    let view = menu_button("zoom-fit-best-symbolic", &gettext("View"), &view_menu());
    bar.append(&view);
    bar.append(&icon_button(
        "camera-photo-symbolic",
        &gettext("Take Screenshot"),
        "console.screenshot",
    ));

    let grab_hint = gtk::Label::builder()
        .hexpand(true)
        .halign(gtk::Align::Center)
        .ellipsize(gtk::pango::EllipsizeMode::End)
        .visible(false)
        .build();
    grab_hint.add_css_class("dim-label");
    // Keeps the toolbar's height and the buttons' places when the hint is hidden.
    let middle = gtk::Box::builder().hexpand(true).build();
    middle.append(&grab_hint);
    bar.append(&middle);

    let extra_menus = gtk::Box::new(gtk::Orientation::Horizontal, 0);
    bar.append(&extra_menus);
    let detach = icon_button(
        "window-new-symbolic",
        &gettext("Open in New Window"),
        "console.detach",
    );
    bar.append(&detach);
    let fullscreen = icon_button(
        "view-fullscreen-symbolic",
        view_tooltip_fullscreen,
        "console.fullscreen",
    );
    bar.append(&fullscreen);
    Toolbar {
        bar,
        grab_hint,
        extra_menus,
        detach,
        fullscreen,
        menus: [send, view],
    }
}

fn status_page(icon: &str, title: &str, description: &str) -> adw::StatusPage {
    adw::StatusPage::builder()
        .icon_name(icon)
        .title(title)
        .description(description)
        .vexpand(true)
        .build()
}

fn pill_button(
    label: &str,
    suggested: bool,
    input: &Sender<ConsoleInput>,
    msg: fn() -> ConsoleInput,
) -> gtk::Button {
    let button = gtk::Button::builder()
        .label(label)
        .use_underline(true)
        .halign(gtk::Align::Center)
        .build();
    button.add_css_class("pill");
    button.set_accessible_label(&label.replace('_', ""));
    if suggested {
        button.add_css_class("suggested-action");
    }
    let input = input.clone();
    button.connect_clicked(move |_| input.emit(msg()));
    button
}

/// The "connecting" page. Deliberately without a spinner: an endless animation redraws the
/// window every frame, and on a slow software renderer that starves the idle callback gvnc
/// starts its session from, so the connection would never begin.
fn busy_page() -> adw::StatusPage {
    status_page("video-display-symbolic", &gettext("Connecting…"), "")
}

/// The headless page: the serial console command and a button that copies it.
fn headless_page(vm: &str) -> adw::StatusPage {
    let page = status_page(
        "utilities-terminal-symbolic",
        &gettext("No Display"),
        &gettext("This virtual machine has no screen. Use its serial console in a terminal:"),
    );
    let command = gtk::Label::builder()
        .label(format!("hangarctl console {}", shell_quote(vm)))
        .selectable(true)
        .wrap(true)
        .build();
    command.add_css_class("monospace");
    let copy = gtk::Button::builder()
        .icon_name("edit-copy-symbolic")
        .tooltip_text(gettext("Copy Command"))
        .build();
    copy.add_css_class("flat");
    copy.set_accessible_label(&gettext("Copy Command"));
    let label = command.clone();
    copy.connect_clicked(move |button| {
        button.clipboard().set_text(&label.label());
    });
    let row = gtk::Box::builder().spacing(6).halign(gtk::Align::Center).build();
    row.append(&command);
    row.append(&copy);
    page.set_child(Some(&row));
    page
}

/// Quotes a VM name for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | ':' | '@' | '%' | '/'));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The fullscreen bar's content and its menu buttons.
fn fullscreen_bar() -> (gtk::Box, Vec<gtk::MenuButton>) {
    let bar = gtk::Box::builder().spacing(6).margin_top(8).build();
    bar.add_css_class("console-osd-bar");
    let send = gtk::MenuButton::builder()
        .child(
            &adw::ButtonContent::builder()
                .icon_name("input-keyboard-symbolic")
                .label(gettext("Send Key"))
                .build(),
        )
        .menu_model(&send_key_menu())
        .build();
    send.add_css_class("flat");
    send.set_accessible_label(&gettext("Send Key"));
    bar.append(&send);
    bar.append(&osd_button(
        "input-mouse-symbolic",
        &gettext("Release"),
        "console.release",
    ));
    bar.append(&osd_button(
        "camera-photo-symbolic",
        &gettext("Screenshot"),
        "console.screenshot",
    ));
    bar.append(&osd_button(
        "view-restore-symbolic",
        &gettext("Leave Fullscreen"),
        "console.fullscreen",
    ));
    (bar, vec![send])
}

/// Builds everything under `root`.
pub fn build(root: &gtk::Stack, vm: &str, fullscreen_key: &str, input: &Sender<ConsoleInput>) -> Widgets {
    install_css();
    let fullscreen_tip = i18n_f("Fullscreen ({})", &[&keys::hotkey_label(fullscreen_key)]);
    let Toolbar {
        bar: toolbar,
        grab_hint,
        extra_menus,
        detach: detach_button,
        fullscreen: fullscreen_button,
        menus,
    } = toolbar(&fullscreen_tip);

    let pages = gtk::Stack::builder()
        .transition_type(gtk::StackTransitionType::Crossfade)
        .vexpand(true)
        .hexpand(true)
        .build();
    let busy = busy_page();
    pages.add_named(&busy, Some(page::CONNECTING));

    let off = status_page(
        "system-shutdown-symbolic",
        &gettext("The Virtual Machine Is Off"),
        &gettext("Start it to see its screen here."),
    );
    off.set_child(Some(&pill_button(&gettext("_Start"), true, input, || {
        ConsoleInput::Start
    })));
    pages.add_named(&off, Some(page::OFF));

    let view = DisplayView::new();
    view.set_hexpand(true);
    view.set_vexpand(true);
    view.set_accessible_label(&i18n_f("Screen of {}", &[vm]));
    pages.add_named(&view, Some(page::DISPLAY));

    let disconnected = status_page("network-offline-symbolic", &gettext("Disconnected"), "");
    disconnected.set_child(Some(&pill_button(&gettext("_Reconnect"), true, input, || {
        ConsoleInput::Reconnect
    })));
    pages.add_named(&disconnected, Some(page::DISCONNECTED));

    let headless = headless_page(vm);
    pages.add_named(&headless, Some(page::HEADLESS));

    let error = status_page("dialog-warning-symbolic", &gettext("Cannot Show the Console"), "");
    error.set_child(Some(&pill_button(&gettext("_Try Again"), false, input, || {
        ConsoleInput::Reconnect
    })));
    pages.add_named(&error, Some(page::ERROR));
    pages.set_visible_child_name(page::CONNECTING);

    let overlay = gtk::Overlay::builder().child(&pages).vexpand(true).build();
    let (bar_box, bar_menus) = fullscreen_bar();
    let bar = OverlayBar::install(&overlay, &bar_box, bar_menus);

    let content = gtk::Box::new(gtk::Orientation::Vertical, 0);
    content.append(&toolbar);
    content.append(&overlay);
    let slot = gtk::Box::builder().vexpand(true).hexpand(true).build();
    slot.append(&content);
    content.set_hexpand(true);
    root.add_named(&slot, Some("attached"));

    let detached = status_page(
        "window-new-symbolic",
        &gettext("Console in a Separate Window"),
        &gettext("Close that window to show the console here again."),
    );
    detached.set_child(Some(&pill_button(&gettext("_Show Here"), false, input, || {
        ConsoleInput::Attach
    })));
    root.add_named(&detached, Some("detached"));
    root.set_visible_child_name("attached");

    Widgets {
        slot,
        content,
        toolbar,
        pages,
        view,
        grab_hint,
        busy,
        disconnected,
        error,
        fullscreen_button,
        detach_button,
        menus,
        extra_menus,
        bar,
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn vm_names_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_quote("debian-12"), "debian-12");
        assert_eq!(shell_quote("my vm"), "'my vm'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
