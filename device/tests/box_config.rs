//! The shipped example config is valid and spells out every key.

use colorize_device::boxd::config::BoxConfig;

#[test]
fn example_config_is_valid_and_complete() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/box.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let cfg = BoxConfig::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
    assert!(cfg.camera.enabled && cfg.button.enabled && cfg.led.enabled);

    // Every key the effective config prints must appear in the example
    // (the commented-out model path included).
    let effective: toml::Table = toml::from_str(&cfg.to_toml()).unwrap();
    for (section, keys) in &effective {
        let keys = keys.as_table().unwrap();
        assert!(
            text.contains(&format!("[{section}]")),
            "[{section}] missing from the example"
        );
        for key in keys.keys() {
            assert!(
                text.lines().any(|l| l
                    .trim_start()
                    .trim_start_matches("# ")
                    .starts_with(&format!("{key} ="))),
                "{section}.{key} missing from the example"
            );
        }
    }
    assert!(text.contains("path ="), "model.path not documented");
}
