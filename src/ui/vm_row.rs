//! One row of the library list: an `AdwActionRow` showing a [`VmRow`] — thumbnail of the last
//! screen, name, "OS · state", a state icon (or the progress of a clone or snapshot) and a menu
//! button with the VM's actions.
//!
//! Keyboard: rows are focusable and activate with Enter/Space (opens the VM page); Delete asks
//! to delete the VM; Menu or Shift+F10 opens the action menu (also reachable with Tab).

use adw::prelude::*;
use gtk::{gdk, gio, glib};
use relm4::factory::{DynamicIndex, FactoryComponent, FactorySender};
use relm4::RelmWidgetExt;

use crate::a11y::AccessibleLabelExt;
use crate::i18n::{gettext, i18n_f};
use crate::model::{Busy, VmAction, VmRow};

/// Factory item wrapping one [`VmRow`].
#[derive(Debug)]
pub struct VmRowItem {
    pub(crate) row: VmRow,
    /// Work in progress on this VM; while set, every action is disabled.
    pub(crate) busy: Option<Busy>,
    /// The `row.*` actions of the menu, enabled according to the state.
    actions: gio::SimpleActionGroup,
}

#[derive(Debug)]
pub enum VmRowInput {
    /// Open the action menu (keyboard).
    PopupMenu,
}

/// Sent to the library.
#[derive(Debug)]
pub enum VmRowOutput {
    /// The row was activated: open the VM page (or explain why the VM is broken).
    Open(DynamicIndex),
    /// An action of the menu (or the Delete key).
    Action(DynamicIndex, VmAction),
}

impl VmRowItem {
    fn state_icon(&self) -> &'static str {
        if self.row.is_broken() {
            "dialog-warning-symbolic"
        } else {
            self.row.state.icon_name()
        }
    }

    fn state_class(&self) -> &'static str {
        if self.row.is_broken() {
            "broken"
        } else {
            self.row.state.css_class()
        }
    }

    fn tooltip(&self) -> Option<String> {
        self.row
            .error
            .as_ref()
            .map(|_| gettext("This virtual machine cannot be loaded. Activate the row for details."))
    }

    fn thumbnail(&self) -> Option<&gdk::Texture> {
        self.row.thumbnail.as_ref()
    }

    fn fraction(&self) -> Option<f64> {
        self.busy.as_ref().and_then(|b| b.fraction)
    }

    /// Enables the menu's actions that fit the current state.
    fn refresh_actions(&self) {
        for action in VmAction::ALL {
            let enabled = self.busy.is_none() && action.enabled(self.row.state, self.row.is_broken());
            if let Some(a) = self.actions.lookup_action(action.action_name()) {
                if let Ok(simple) = a.downcast::<gio::SimpleAction>() {
                    simple.set_enabled(enabled);
                }
            }
        }
    }
}

/// The action menu of a row: power, then VM management. Pause and Resume hide when disabled,
/// so one of them shows at a time.
pub fn action_menu(group: &str) -> gio::Menu {
    let item = |action: VmAction| {
        let item = gio::MenuItem::new(
            Some(&action.label()),
            Some(&format!("{group}.{}", action.action_name())),
        );
        if matches!(action, VmAction::Pause | VmAction::Resume) {
            item.set_attribute_value("hidden-when", Some(&"action-disabled".to_variant()));
        }
        item
    };
    let section = |actions: &[VmAction]| {
        let section = gio::Menu::new();
        for action in actions {
            section.append_item(&item(*action));
        }
        section
    };
    let menu = gio::Menu::new();
    use VmAction as A;
    menu.append_section(
        None,
        &section(&[A::Start, A::Pause, A::Resume, A::ShutDown, A::ForceOff, A::Reset]),
    );
    menu.append_section(None, &section(&[A::Clone, A::TakeSnapshot]));
    menu.append_section(None, &section(&[A::Delete]));
    menu
}

#[relm4::factory(pub)]
impl FactoryComponent for VmRowItem {
    type Init = VmRow;
    type Input = VmRowInput;
    type Output = VmRowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        #[root]
        adw::ActionRow {
            set_use_markup: false,
            set_activatable: true,
            add_css_class: "vm-row",
            #[watch]
            set_title: &self.row.name,
            #[watch]
            set_subtitle: &self.row.subtitle(self.busy.as_ref()),
            #[watch]
            set_class_active: ("broken", self.row.is_broken()),
            #[watch]
            set_tooltip_text: self.tooltip().as_deref(),
            insert_action_group: ("row", Some(&self.actions)),

            // The last picture of the screen over a computer icon. An overlay takes the size
            // of its main child only, so a large picture cannot widen the row's start.
            add_prefix = &gtk::Overlay {
                add_css_class: "vm-thumbnail",
                set_valign: gtk::Align::Center,
                set_overflow: gtk::Overflow::Hidden,

                #[wrap(Some)]
                set_child = &gtk::Image::builder()
                    .accessible_role(gtk::AccessibleRole::Presentation)
                    .build() {
                    set_icon_name: Some("computer-symbolic"),
                    set_pixel_size: 32,
                    set_size_request: (64, 48),
                    add_css_class: "dim-label",
                },

                add_overlay = &gtk::Picture::builder()
                    .accessible_role(gtk::AccessibleRole::Presentation)
                    .build() {
                    set_content_fit: gtk::ContentFit::Cover,
                    set_can_shrink: true,
                    #[watch]
                    set_paintable: self.thumbnail(),
                    #[watch]
                    set_visible: self.thumbnail().is_some(),
                },
            },

            add_suffix = &gtk::ProgressBar {
                set_valign: gtk::Align::Center,
                set_width_request: 72,
                #[watch]
                set_visible: self.fraction().is_some(),
                #[watch]
                set_fraction: self.fraction().unwrap_or(0.0),
                set_accessible_label: &gettext("Progress"),
            },

            add_suffix = &gtk::Spinner {
                set_valign: gtk::Align::Center,
                #[watch]
                set_visible: self.busy.is_some() && self.fraction().is_none(),
                #[watch]
                set_spinning: self.busy.is_some() && self.fraction().is_none(),
                set_accessible_label: &gettext("Working"),
            },

            add_suffix: state_icon = &gtk::Image {
                add_css_class: "vm-state",
                #[watch]
                set_visible: self.busy.is_none(),
                #[watch]
                set_icon_name: Some(self.state_icon()),
                #[watch]
                set_tooltip_text: Some(&self.row.state_label()),
                #[watch]
                set_accessible_label: &self.row.state_label(),
            },

            add_suffix: menu_button = &gtk::MenuButton {
                set_icon_name: "view-more-symbolic",
                set_valign: gtk::Align::Center,
                add_css_class: "flat",
                set_menu_model: Some(&action_menu("row")),
                #[watch]
                set_tooltip_text: Some(&i18n_f("Actions for “{}”", &[&self.row.name])),
                #[watch]
                set_accessible_label: &i18n_f("Actions for “{}”", &[&self.row.name]),
            },

            add_controller = gtk::EventControllerKey {
                connect_key_pressed[sender, index] => move |_, key, _, modifiers| {
                    let plain = !modifiers.intersects(
                        gdk::ModifierType::CONTROL_MASK | gdk::ModifierType::ALT_MASK | gdk::ModifierType::SHIFT_MASK,
                    );
                    if plain && matches!(key, gdk::Key::Delete | gdk::Key::KP_Delete) {
                        sender.output_sender().emit(VmRowOutput::Action(index.clone(), VmAction::Delete));
                        return glib::Propagation::Stop;
                    }
                    let shift_f10 = key == gdk::Key::F10 && modifiers.contains(gdk::ModifierType::SHIFT_MASK);
                    if key == gdk::Key::Menu || shift_f10 {
                        sender.input(VmRowInput::PopupMenu);
                        return glib::Propagation::Stop;
                    }
                    glib::Propagation::Proceed
                },
            },

            connect_activated[sender, index] => move |_| {
                sender.output_sender().emit(VmRowOutput::Open(index.clone()));
            },
        }
    }

    fn init_model(row: Self::Init, index: &DynamicIndex, sender: FactorySender<Self>) -> Self {
        let actions = gio::SimpleActionGroup::new();
        for action in VmAction::ALL {
            let simple = gio::SimpleAction::new(action.action_name(), None);
            let (sender, index) = (sender.clone(), index.clone());
            simple.connect_activate(move |_, _| {
                sender
                    .output_sender()
                    .emit(VmRowOutput::Action(index.clone(), action));
            });
            actions.add_action(&simple);
        }
        let item = VmRowItem {
            row,
            busy: None,
            actions,
        };
        item.refresh_actions();
        item
    }

    fn update_with_view(
        &mut self,
        widgets: &mut Self::Widgets,
        msg: Self::Input,
        sender: FactorySender<Self>,
    ) {
        match msg {
            VmRowInput::PopupMenu => widgets.menu_button.popup(),
        }
        self.update_view(widgets, sender);
    }

    fn post_view() {
        for class in ["running", "paused", "idle", "broken"] {
            state_icon.set_class_active(class, class == self.state_class());
        }
        self.refresh_actions();
    }
}
