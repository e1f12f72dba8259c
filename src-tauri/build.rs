fn main() {
    // tauri.conf.json sits here, where `cargo tauri` (scripts/package) looks for it; its paths
    // point at ../ui and ../icons.
    tauri_build::build()
}
