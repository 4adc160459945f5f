//! `hangarctl`: command-line control of Hangar virtual machines.
fn main() {
    println!("hangarctl {}", env!("CARGO_PKG_VERSION"));
}
