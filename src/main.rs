fn main() {
    println!("hangar {}", env!("CARGO_PKG_VERSION"));
}
