//! The vm.toml data model: one serde struct per device area, `validate()` and `update()`.
