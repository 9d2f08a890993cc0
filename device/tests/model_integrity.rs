//! Issue 8, model integrity: a truncated or tampered model file gives a
//! clear error; the card's `colorize.initializers_sha256` is checked.

mod cli_common;

use std::fs;
use std::path::Path;

use cli_common::*;
use colorize_device::shared::contract::{meta, INPUT_NAME, OUTPUT_NAME};
use colorize_device::{Model, DEFAULT_MODEL};
use colorize_model::integrity;
use colorize_model::net::{Net, Node, Op, Tensor};
use colorize_model::pb::ModelProto;
use colorize_model::Message;

fn small_net() -> Net {
    Net {
        arch: "small".into(),
        input_height: 16,
        input_width: 16,
        hints: None,
        nodes: vec![Node {
            name: "conv".into(),
            op: Op::Conv2d {
                weight: Tensor::new(vec![2, 1, 3, 3], (0..18).map(|i| i as f32 * 0.01).collect()),
                bias: vec![0.1, -0.1],
                stride: 1,
                padding: 1,
                dilation: 1,
                groups: 1,
            },
            inputs: vec![INPUT_NAME.into()],
            output: OUTPUT_NAME.into(),
        }],
        metadata: vec![],
    }
}

fn load_err(bytes: &[u8]) -> String {
    match Model::from_bytes_named(bytes, "m.onnx") {
        Ok(_) => panic!("a broken model loaded"),
        Err(e) => format!("{e:#}"),
    }
}

/// Where the largest initializer's data sits in the file.
fn largest_weights(bytes: &[u8]) -> std::ops::Range<usize> {
    let proto = ModelProto::decode(bytes).unwrap();
    let raw = &proto
        .graph
        .unwrap()
        .initializer
        .into_iter()
        .max_by_key(|t| t.raw_data.len())
        .unwrap()
        .raw_data;
    let at = bytes
        .windows(raw.len())
        .position(|w| w == &raw[..])
        .unwrap();
    at..at + raw.len()
}

#[test]
fn shipped_and_written_models_carry_a_matching_initializers_sha256() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let int8_file = fs::read(root.join("models/colorize-default-int8.onnx")).unwrap();
    for (name, bytes) in [
        ("embedded (colorize-default.onnx)", DEFAULT_MODEL.to_vec()),
        ("colorize-default-int8.onnx", int8_file),
        (
            "written by to_onnx",
            colorize_model::onnx::to_onnx(&small_net()).unwrap(),
        ),
    ] {
        let proto = ModelProto::decode(&bytes[..]).unwrap();
        let model = Model::from_bytes_named(&bytes, name).unwrap();
        let card = model
            .meta(meta::INITIALIZERS_SHA256)
            .unwrap_or_else(|| panic!("{name}: no hash"));
        assert_eq!(card, integrity::initializers_sha256(&proto), "{name}");
        assert_eq!(card.len(), 64, "{name}");
    }
    // The two shipped files differ in their weights, so in their hashes.
    let f32_model = Model::from_path(root.join("models/colorize-default.onnx")).unwrap();
    let int8_model = Model::from_path(root.join("models/colorize-default-int8.onnx")).unwrap();
    assert_ne!(
        f32_model.meta(meta::INITIALIZERS_SHA256),
        int8_model.meta(meta::INITIALIZERS_SHA256)
    );
}

#[test]
fn truncated_models_are_refused_clearly() {
    for bytes in [
        DEFAULT_MODEL.to_vec(),
        colorize_model::onnx::to_onnx(&small_net()).unwrap(),
    ] {
        let n = bytes.len();
        for cut in [n - 1, n - 50, n * 9 / 10, n / 2, 100, 3] {
            let msg = load_err(&bytes[..cut]);
            assert!(msg.starts_with("m.onnx: "), "cut {cut}/{n}: {msg}");
            assert!(
                msg.contains("protobuf decoding failed") || msg.contains("do not match"),
                "cut {cut}/{n}: {msg}"
            );
        }
    }
}

#[test]
fn tampered_weights_or_card_are_refused_and_an_unstamped_model_loads() {
    let bytes = DEFAULT_MODEL.to_vec();
    let weights = largest_weights(&bytes);
    for at in [
        weights.start,
        weights.start + weights.len() / 2,
        weights.end - 1,
    ] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01; // one bit of one weight
        let msg = load_err(&bad);
        assert!(
            msg.contains("m.onnx: model weights do not match the card's sha256")
                && msg.contains("corrupt or was modified"),
            "{msg}"
        );
    }
    // A card whose hash was edited.
    let mut proto = ModelProto::decode(&bytes[..]).unwrap();
    let entry = proto
        .metadata_props
        .iter_mut()
        .find(|e| e.key == meta::INITIALIZERS_SHA256)
        .unwrap();
    entry.value = "0".repeat(64);
    assert!(load_err(&proto.encode_to_vec()).contains("do not match"));
    // Without the entry (older or third-party files) there is nothing to
    // check; the model still loads.
    proto
        .metadata_props
        .retain(|e| e.key != meta::INITIALIZERS_SHA256);
    let model = Model::from_bytes(&proto.encode_to_vec()).unwrap();
    assert_eq!(model.meta(meta::INITIALIZERS_SHA256), None);
}

#[test]
fn the_cli_names_a_tampered_model_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bad = DEFAULT_MODEL.to_vec();
    let at = largest_weights(&bad).start + 7;
    bad[at] ^= 0x40;
    let model = tmp.path().join("tampered.onnx");
    fs::write(&model, &bad).unwrap();
    let cut = tmp.path().join("cut.onnx");
    fs::write(&cut, &DEFAULT_MODEL[..DEFAULT_MODEL.len() / 3]).unwrap();
    let input = tmp.path().join("a.png");
    image::GrayImage::from_raw(8, 8, gray_pixels(8, 8, 1))
        .unwrap()
        .save(&input)
        .unwrap();
    let out = tmp.path().join("out");
    for (m, says) in [
        (&model, "model weights do not match the card's sha256"),
        (&cut, "protobuf decoding failed"),
    ] {
        let o = colorize()
            .args(["files", "--model"])
            .arg(m)
            .arg("--out")
            .arg(&out)
            .arg(&input)
            .output()
            .unwrap();
        assert!(!o.status.success());
        let lines = error_lines(&o.stderr);
        assert_eq!(lines.len(), 1, "{}", text(&o.stderr));
        assert!(
            lines[0].contains(&m.display().to_string()) && lines[0].contains(says),
            "{}",
            lines[0]
        );
        assert!(!out.exists() || listing(&out).is_empty());
    }
}
