//! Accessible names on GTK 4.8. gtk4-rs wraps `gtk_accessible_update_property_value` only from
//! its `v4_10` feature on, although GTK has exported it since 4.0; Hangar targets GTK 4.8, so
//! the one call it needs is declared here. Icon-only buttons, images and lists need a name or
//! screen readers (and AT-SPI tests) only see their type.

use std::os::raw::c_int;

use gtk::glib::translate::ToGlibPtr;
use gtk::glib::{self, gobject_ffi};
use gtk::prelude::*;

extern "C" {
    // void gtk_accessible_update_property_value (GtkAccessible *self, int n_properties,
    //     GtkAccessibleProperty properties[], const GValue values[]);   (GTK >= 4.0)
    fn gtk_accessible_update_property_value(
        accessible: *mut gtk::ffi::GtkAccessible,
        n_properties: c_int,
        properties: *mut gtk::ffi::GtkAccessibleProperty,
        values: *const gobject_ffi::GValue,
    );
}

/// Sets the accessible name (`GTK_ACCESSIBLE_PROPERTY_LABEL`) of any widget.
pub trait AccessibleLabelExt: IsA<gtk::Widget> {
    fn set_accessible_label(&self, label: &str) {
        let value = glib::Value::from(label);
        let mut properties = [gtk::ffi::GTK_ACCESSIBLE_PROPERTY_LABEL];
        let widget: &gtk::Widget = self.upcast_ref();
        let instance: *mut gtk::ffi::GtkWidget = widget.to_glib_none().0;
        // SAFETY: every GtkWidget implements the GtkAccessible interface, so the instance
        // pointer is a valid GtkAccessible for the duration of the call; one property is passed
        // with one initialised G_TYPE_STRING value, which GTK copies.
        unsafe {
            gtk_accessible_update_property_value(
                instance.cast::<gtk::ffi::GtkAccessible>(),
                1,
                properties.as_mut_ptr(),
                ToGlibPtr::<*const gobject_ffi::GValue>::to_glib_none(&value).0,
            );
        }
    }
}

impl<T: IsA<gtk::Widget>> AccessibleLabelExt for T {}
