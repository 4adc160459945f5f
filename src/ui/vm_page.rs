//! The page of one virtual machine.
//!
//! ```text
//! GtkBox (vertical)                                   actions vm.* (VmAction names)
//! ├── AdwHeaderBar                                    hidden in fullscreen
//! │   ├── Back                    Alt+Left, Escape (unless the console holds the keyboard)
//! │   ├── AdwViewSwitcherTitle    VM name, state; Console / Details / Snapshots (Alt+1..3)
//! │   └── Start | Pause/Resume, Shut Down ▾ (Force Off, Reset)
//! ├── AdwViewStack   "console" | "details" | "snapshots"   made by vm_page/children.rs
//! └── AdwViewSwitcherBar          when the window is too narrow for the title's switcher
//! ```
//!
//! The page forwards manager events about its VM (and those about every VM) to its three
//! areas; power actions go to the app as [`VmPageOutput::Action`], which runs them the same way
//! as the library's row menus.

pub mod children;

use adw::prelude::*;
use gtk::{gio, glib};
use hangar_core::manager::{Event, Manager};
use relm4::{ComponentParts, ComponentSender, SimpleComponent};

use crate::a11y::AccessibleLabelExt;
use crate::error::UserError;
use crate::i18n::{gettext, i18n_f};
use crate::model::{RowState, VmAction};
use crate::settings::Prefs;
use children::Child;

/// The areas of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Console,
    Details,
    Snapshots,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Console, Tab::Details, Tab::Snapshots];

    /// Name of the page in the view stack.
    pub fn name(self) -> &'static str {
        match self {
            Tab::Console => "console",
            Tab::Details => "details",
            Tab::Snapshots => "snapshots",
        }
    }

    fn title(self) -> String {
        match self {
            Tab::Console => gettext("Console"),
            Tab::Details => gettext("Details"),
            Tab::Snapshots => gettext("Snapshots"),
        }
    }

    fn icon_name(self) -> &'static str {
        match self {
            Tab::Console => "video-display-symbolic",
            Tab::Details => "document-properties-symbolic",
            Tab::Snapshots => "document-open-recent-symbolic",
        }
    }
}

/// What the page is opened with.
pub struct VmPageInit {
    pub manager: Manager,
    pub name: String,
    pub prefs: Prefs,
    /// The VM's state as the library knows it; events keep it current afterwards.
    pub state: RowState,
    /// The area shown first.
    pub tab: Tab,
    /// The VM was just created to be customised: the details show "Begin Installation".
    pub pending_install: bool,
}

/// Outputs of the three areas, gathered (see the contract of ui/console, ui/details and
/// ui/snapshots.rs).
#[derive(Debug)]
pub enum ChildOutput {
    Error(UserError),
    Notify(String),
    /// The console asks for the window to go fullscreen (`true`) or back.
    SetFullscreen(bool),
    /// The console's "Start" button.
    Start,
    /// The details renamed the VM.
    Renamed {
        from: String,
        to: String,
    },
    /// The details' "Begin Installation": start the VM and show its console.
    BeginInstall,
}

#[derive(Debug)]
pub enum VmPageMsg {
    /// A manager event; passed on to the areas when it concerns this VM or every VM.
    VmEvent(Event),
    /// The app changed the state it shows (e.g. "Starting" before QEMU is up).
    SetState(RowState),
    /// Output of an area.
    Child(ChildOutput),
    /// Show this area.
    Show(Tab),
    /// A power button or menu item.
    Action(VmAction),
    /// The window entered or left fullscreen.
    Fullscreen(bool),
    /// Back to the library.
    Back,
}

#[derive(Debug)]
pub enum VmPageOutput {
    Back,
    Action { name: String, action: VmAction },
    Error(UserError),
    Notify(String),
    SetFullscreen(bool),
    Renamed { from: String, to: String },
}

pub struct VmPage {
    name: String,
    state: RowState,
    fullscreen: bool,
    view_stack: adw::ViewStack,
    actions: gio::SimpleActionGroup,
    areas: [Child; 3],
}

/// Whether `event` is for the page of VM `name`.
pub fn concerns(event: &Event, name: &str) -> bool {
    match event {
        Event::State { name: n, .. }
        | Event::Qmp { name: n, .. }
        | Event::Warning { name: n, .. }
        | Event::UsbAttached { name: n, .. }
        | Event::UsbDetached { name: n, .. }
        | Event::UsbGone { name: n, .. }
        | Event::Agent { name: n, .. } => n == name,
        Event::ListChanged | Event::UsbHostChanged => true,
    }
}

impl VmPage {
    fn refresh_actions(&self) {
        for action in VmAction::ALL {
            if let Some(a) = self.actions.lookup_action(action.action_name()) {
                if let Ok(simple) = a.downcast::<gio::SimpleAction>() {
                    simple.set_enabled(action.enabled(self.state, false));
                }
            }
        }
    }

    fn pause_resume(&self) -> (&'static str, &'static str, String) {
        if self.state == RowState::Paused {
            ("vm.resume", "media-playback-start-symbolic", gettext("Resume"))
        } else {
            ("vm.pause", "media-playback-pause-symbolic", gettext("Pause"))
        }
    }

    fn shutdown_tooltip(&self) -> String {
        if self.state == RowState::Stopping {
            gettext("Shutting down… Use the menu to force it off")
        } else {
            gettext("Shut Down")
        }
    }
}

fn power_menu() -> gio::Menu {
    let menu = gio::Menu::new();
    for action in [VmAction::ForceOff, VmAction::Reset] {
        menu.append(
            Some(&action.label()),
            Some(&format!("vm.{}", action.action_name())),
        );
    }
    menu
}

/// Alt+Left and Escape go back; Alt+1..3 pick an area. Bubble phase: a console that holds
/// the keyboard stops the keys before they get here.
fn shortcuts(sender: &ComponentSender<VmPage>) -> gtk::ShortcutController {
    let controller = gtk::ShortcutController::new();
    controller.set_scope(gtk::ShortcutScope::Managed);
    controller.set_propagation_phase(gtk::PropagationPhase::Bubble);
    let add = |trigger: &str, msg: fn() -> VmPageMsg| {
        let input = sender.input_sender().clone();
        let action = gtk::CallbackAction::new(move |_, _| {
            input.emit(msg());
            glib::Propagation::Stop
        });
        controller.add_shortcut(gtk::Shortcut::new(
            gtk::ShortcutTrigger::parse_string(trigger),
            Some(action),
        ));
    };
    add("<Alt>Left", || VmPageMsg::Back);
    add("Escape", || VmPageMsg::Back);
    add("<Alt>1", || VmPageMsg::Show(Tab::Console));
    add("<Alt>2", || VmPageMsg::Show(Tab::Details));
    add("<Alt>3", || VmPageMsg::Show(Tab::Snapshots));
    controller
}

#[relm4::component(pub)]
impl SimpleComponent for VmPage {
    type Init = VmPageInit;
    type Input = VmPageMsg;
    type Output = VmPageOutput;

    view! {
        #[root]
        gtk::Box {
            set_orientation: gtk::Orientation::Vertical,
            insert_action_group: ("vm", Some(&model.actions)),
            add_controller: shortcuts(&sender),

            adw::HeaderBar {
                #[watch]
                set_visible: !model.fullscreen,

                #[wrap(Some)]
                set_title_widget: title = &adw::ViewSwitcherTitle {
                    set_stack: Some(&view_stack),
                    #[watch]
                    set_title: &model.name,
                    #[watch]
                    set_subtitle: &model.state.label(),
                },

                pack_start = &gtk::Button {
                    set_icon_name: "go-previous-symbolic",
                    set_tooltip_text: Some(&gettext("Back to the Library")),
                    set_accessible_label: &gettext("Back to the Library"),
                    connect_clicked => VmPageMsg::Back,
                },

                // The name and state, while the wide switcher takes the title's place.
                #[name = "name_box"]
                pack_start = &gtk::Box {
                    set_orientation: gtk::Orientation::Vertical,
                    set_valign: gtk::Align::Center,
                    set_margin_start: 6,

                    gtk::Label {
                        #[watch]
                        set_label: &model.name,
                        set_xalign: 0.0,
                        set_max_width_chars: 24,
                        set_ellipsize: gtk::pango::EllipsizeMode::End,
                        add_css_class: "heading",
                    },
                    gtk::Label {
                        #[watch]
                        set_label: &model.state.label(),
                        set_xalign: 0.0,
                        add_css_class: "caption",
                        add_css_class: "dim-label",
                    },
                },

                pack_end = &adw::SplitButton {
                    set_icon_name: "system-shutdown-symbolic",
                    set_menu_model: Some(&power_menu()),
                    set_dropdown_tooltip: &gettext("More Power Options"),
                    #[watch]
                    set_visible: model.state.is_active(),
                    #[watch]
                    set_tooltip_text: Some(&model.shutdown_tooltip()),
                    set_accessible_label: &gettext("Shut Down"),
                    connect_clicked => VmPageMsg::Action(VmAction::ShutDown),
                },

                pack_end = &gtk::Button {
                    #[watch]
                    set_visible: matches!(model.state, RowState::Running | RowState::Paused),
                    #[watch]
                    set_action_name: Some(model.pause_resume().0),
                    #[watch]
                    set_icon_name: model.pause_resume().1,
                    #[watch]
                    set_tooltip_text: Some(&model.pause_resume().2),
                    #[watch]
                    set_accessible_label: &model.pause_resume().2,
                },

                pack_end = &gtk::Button {
                    set_action_name: Some("vm.start"),
                    add_css_class: "suggested-action",
                    #[watch]
                    set_visible: !model.state.is_active(),
                    set_tooltip_text: Some(&gettext("Start the virtual machine")),
                    set_accessible_label: &gettext("Start"),
                    #[wrap(Some)]
                    set_child = &adw::ButtonContent {
                        set_icon_name: "media-playback-start-symbolic",
                        set_label: &gettext("Start"),
                    },
                },
            },

            #[local_ref]
            view_stack -> adw::ViewStack {
                set_vexpand: true,
            },

            #[name = "switcher_bar"]
            adw::ViewSwitcherBar {
                set_stack: Some(&view_stack),
            },
        }
    }

    fn init(init: Self::Init, root: Self::Root, sender: ComponentSender<Self>) -> ComponentParts<Self> {
        let VmPageInit {
            manager,
            name,
            prefs,
            state,
            tab,
            pending_install,
        } = init;
        let out = sender.input_sender();
        let areas = [
            children::console(&manager, &name, &prefs, out),
            children::details(&manager, &name, pending_install, out),
            children::snapshots(&manager, &name, out),
        ];
        let view_stack = adw::ViewStack::new();
        for (tab, area) in Tab::ALL.iter().zip(&areas) {
            view_stack.add_titled_with_icon(area.widget(), Some(tab.name()), &tab.title(), tab.icon_name());
        }
        view_stack.set_visible_child_name(tab.name());

        let actions = gio::SimpleActionGroup::new();
        for action in VmAction::ALL {
            let simple = gio::SimpleAction::new(action.action_name(), None);
            let input = sender.input_sender().clone();
            simple.connect_activate(move |_, _| input.emit(VmPageMsg::Action(action)));
            actions.add_action(&simple);
        }
        let model = VmPage {
            name,
            state,
            fullscreen: false,
            view_stack: view_stack.clone(),
            actions,
            areas,
        };
        model.refresh_actions();
        let widgets = view_output!();
        widgets
            .title
            .bind_property("title-visible", &widgets.switcher_bar, "reveal")
            .sync_create()
            .build();
        widgets
            .title
            .bind_property("title-visible", &widgets.name_box, "visible")
            .invert_boolean()
            .sync_create()
            .build();
        ComponentParts { model, widgets }
    }

    fn update(&mut self, msg: Self::Input, sender: ComponentSender<Self>) {
        let out = sender.output_sender();
        match msg {
            VmPageMsg::VmEvent(event) => {
                if !concerns(&event, &self.name) {
                    return;
                }
                if let Event::State { state, .. } = &event {
                    self.state = (*state).into();
                    self.refresh_actions();
                }
                for area in &self.areas {
                    area.deliver(event.clone());
                }
            }
            VmPageMsg::SetState(state) => {
                self.state = state;
                self.refresh_actions();
            }
            VmPageMsg::Child(child) => match child {
                ChildOutput::Error(err) => out.emit(VmPageOutput::Error(err)),
                ChildOutput::Notify(text) => out.emit(VmPageOutput::Notify(text)),
                ChildOutput::SetFullscreen(on) => out.emit(VmPageOutput::SetFullscreen(on)),
                ChildOutput::Start => sender.input(VmPageMsg::Action(VmAction::Start)),
                ChildOutput::Renamed { from, to } => out.emit(VmPageOutput::Renamed { from, to }),
                ChildOutput::BeginInstall => {
                    sender.input(VmPageMsg::Action(VmAction::Start));
                    sender.input(VmPageMsg::Show(Tab::Console));
                }
            },
            VmPageMsg::Show(tab) => self.view_stack.set_visible_child_name(tab.name()),
            VmPageMsg::Action(action) => {
                if action.enabled(self.state, false) {
                    out.emit(VmPageOutput::Action {
                        name: self.name.clone(),
                        action,
                    });
                } else if action == VmAction::ShutDown && self.state == RowState::Stopping {
                    out.emit(VmPageOutput::Notify(i18n_f(
                        "“{}” is already shutting down",
                        &[&self.name],
                    )));
                }
            }
            VmPageMsg::Fullscreen(on) => self.fullscreen = on,
            VmPageMsg::Back => out.emit(VmPageOutput::Back),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hangar_core::manager::VmState;

    #[test]
    fn events_of_other_vms_are_not_forwarded() {
        let state = |name: &str| Event::State {
            name: name.into(),
            state: VmState::Running,
        };
        assert!(concerns(&state("a"), "a"));
        assert!(!concerns(&state("b"), "a"));
        let warning = Event::Warning {
            name: "b".into(),
            message: "m".into(),
        };
        assert!(!concerns(&warning, "a"));
        assert!(concerns(&Event::ListChanged, "a"));
        assert!(concerns(&Event::UsbHostChanged, "a"));
    }

    #[test]
    fn tabs_have_distinct_names() {
        let names: std::collections::HashSet<_> = Tab::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), 3);
    }
}
