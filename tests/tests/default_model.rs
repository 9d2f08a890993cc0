//! End-to-end checks of the shipped default model against the contract in
//! `colorize-shared`: what the trainer exported is what the device expects.

use colorize_device::default_model;
use colorize_shared::contract::{meta, CONTRACT_VERSION, DEFAULT_INPUT_SIZE};
use colorize_shared::lab::{gray8_to_l, rgb8_to_lab};

#[test]
fn embedded_model_meets_the_contract_and_carries_its_card() {
    let model = default_model().expect("embedded model loads");
    let g = model.geometry();
    // The input size the card declares is the one the graph takes (64 is
    // the contract's default when a card names none).
    let size = model
        .meta(meta::INPUT_SIZE)
        .map_or(DEFAULT_INPUT_SIZE, |s| s.parse().expect("a number"));
    assert_eq!((g.width, g.height), (size, size));
    assert_eq!(
        model.meta(meta::CONTRACT_VERSION),
        Some(CONTRACT_VERSION.to_string().as_str())
    );
    for key in [
        meta::ARCH,
        meta::WEIGHTS_SHA256,
        meta::INITIALIZERS_SHA256,
        meta::TRAINING_COMMAND,
        meta::VAL_METRICS,
    ] {
        assert!(
            model.meta(key).is_some_and(|v| !v.is_empty()),
            "card lacks {key}"
        );
    }
}

#[test]
fn embedded_model_colourizes_a_gradient_keeping_lightness() {
    let (w, h) = (97, 61); // not the model size, not a multiple of anything
    let l: Vec<u16> = (0..w * h)
        .map(|i| gray8_to_l(((i % w) * 255 / (w - 1)) as u8))
        .collect();
    let model = default_model().unwrap();
    let mut rgb = vec![0u8; 3 * w * h];
    let mut session = model.session().unwrap();
    colorize_io::pipeline::Worker::new()
        .colorize_plane(&mut session, &l, w, h, &mut rgb)
        .unwrap();
    let mut chroma = 0.0;
    for (px, want) in rgb.chunks_exact(3).zip(&l) {
        let (got, a, b) = rgb8_to_lab(px[0], px[1], px[2]);
        assert!(
            (got as f64 - *want as f64).abs() / 256.0 <= 1.0,
            "L* moved by more than 1.0"
        );
        chroma += (a as f64).hypot(b as f64) / 256.0;
    }
    // A trained model puts some colour in; a gray output would be 0.
    assert!(chroma / (w * h) as f64 > 0.5, "no colour predicted");
}
