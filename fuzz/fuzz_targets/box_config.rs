//! `box.toml` text: parse + validate. A config that is accepted must also
//! survive `--check-config`: its effective TOML parses back to itself.
#![no_main]

use colorize_device::boxd::config::BoxConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = BoxConfig::from_toml(text) {
        let effective = cfg.to_toml();
        let again = BoxConfig::from_toml(&effective)
            .unwrap_or_else(|e| panic!("effective config does not reparse: {e:#}\n{effective}"));
        assert_eq!(again, cfg, "effective config differs:\n{effective}");
    }
});
