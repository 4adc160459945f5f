//! One row of the library list: an `AdwActionRow` showing a [`VmRow`].

use adw::prelude::*;

use crate::a11y::AccessibleLabelExt;
use relm4::factory::{DynamicIndex, FactoryComponent, FactorySender};
use relm4::RelmWidgetExt;

use crate::i18n::gettext;
use crate::model::VmRow;

/// Factory item wrapping one [`VmRow`].
#[derive(Debug)]
pub struct VmRowItem {
    pub(crate) row: VmRow,
}

/// Sent to the library when a row is activated (only broken rows are activatable for now).
#[derive(Debug)]
pub enum VmRowOutput {
    Activated(DynamicIndex),
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
}

#[relm4::factory(pub)]
impl FactoryComponent for VmRowItem {
    type Init = VmRow;
    type Input = ();
    type Output = VmRowOutput;
    type CommandOutput = ();
    type ParentWidget = gtk::ListBox;

    view! {
        #[root]
        adw::ActionRow {
            set_use_markup: false,
            #[watch]
            set_title: &self.row.name,
            #[watch]
            set_subtitle: &self.row.subtitle(),
            #[watch]
            set_activatable: self.row.is_broken(),
            #[watch]
            set_class_active: ("broken", self.row.is_broken()),
            #[watch]
            set_tooltip_text: self.tooltip().as_deref(),

            // Decorative: the row already names the VM.
            add_prefix = &gtk::Image::builder()
                .icon_name("computer-symbolic")
                .icon_size(gtk::IconSize::Large)
                .accessible_role(gtk::AccessibleRole::Presentation)
                .build(),

            add_suffix: state_icon = &gtk::Image {
                add_css_class: "vm-state",
                #[watch]
                set_icon_name: Some(self.state_icon()),
                #[watch]
                set_tooltip_text: Some(&self.row.state_label()),
                #[watch]
                set_accessible_label: &self.row.state_label(),
            },

            connect_activated[sender, index] => move |_| {
                sender.output_sender().emit(VmRowOutput::Activated(index.clone()));
            },
        }
    }

    fn init_model(row: Self::Init, _index: &DynamicIndex, _sender: FactorySender<Self>) -> Self {
        VmRowItem { row }
    }

    fn post_view() {
        for class in ["running", "paused", "idle", "broken"] {
            state_icon.set_class_active(class, class == self.state_class());
        }
    }
}
