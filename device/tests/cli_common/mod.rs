//! Helpers for the tests that run the real `colorize` binary on generated
//! files: the binary (through qemu-user when the tests run emulated), tiny
//! hand-made PNG and JPEG files, and L* checks.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::Command;

use colorize_device::shared::lab::{gray8_to_l, rgb8_to_lab};

/// The binary, through the cross runner (qemu-user) when the tests run
/// emulated: a child process is not emulated by itself without binfmt_misc.
pub fn colorize() -> Command {
    let bin = env!("CARGO_BIN_EXE_colorize");
    let runner_var = if cfg!(target_arch = "aarch64") {
        Some("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER")
    } else if cfg!(target_arch = "arm") {
        Some("CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER")
    } else {
        None
    };
    match runner_var
        .and_then(|v| std::env::var(v).ok())
        .filter(|r| !r.trim().is_empty())
    {
        Some(runner) => {
            let mut parts = runner.split_whitespace();
            let mut cmd = Command::new(parts.next().expect("non-empty runner"));
            cmd.args(parts).arg(bin);
            cmd
        }
        None => Command::new(bin),
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The `error:` lines of a run's stderr.
pub fn error_lines(stderr: &[u8]) -> Vec<String> {
    text(stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .map(str::to_owned)
        .collect()
}

/// A deterministic gray test pattern: gradients plus noise.
pub fn gray_pixels(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    (0..w * h)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let (x, y) = (i % w, i / w);
            ((x * 200 / w.max(1) + y * 50 / h.max(1)) as u8).wrapping_add((s % 24) as u8)
        })
        .collect()
}

/// PNG chunk: length, type, data, CRC-32.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = colorize_io::images::png_crc32(&out[4..]);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A small PNG file whose header declares `w x h` 8-bit RGB: a
/// decompression bomb's header, with a stub IDAT.
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    // A zlib stream of 64 KiB of zero-filled stored blocks would follow in a
    // real bomb; the header alone must be enough to refuse it.
    out.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// Offset and length of chunk `kind`'s data in a PNG file (its CRC follows).
pub fn png_chunk_data(png: &[u8], kind: &[u8; 4]) -> (usize, usize) {
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        if &png[at + 4..at + 8] == kind {
            return (at + 8, len);
        }
        at += 12 + len;
    }
    panic!("no {kind:?} chunk");
}

/// Offset of the first byte of chunk `kind`'s data in a PNG file.
pub fn png_chunk_data_offset(png: &[u8], kind: &[u8; 4]) -> usize {
    png_chunk_data(png, kind).0
}

/// A baseline JPEG with 4 components and an Adobe APP14 marker (transform 0:
/// CMYK, stored inverted as Photoshop writes it), each component a constant:
/// every 8x8 block is DC only. The image crate has no CMYK encoder.
pub fn cmyk_jpeg(w: u16, h: u16, cmyk: [u8; 4]) -> Vec<u8> {
    fn seg(out: &mut Vec<u8>, marker: u8, body: &[u8]) {
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(body);
    }
    fn put(bits: &mut Vec<bool>, v: u32, n: u32) {
        for i in (0..n).rev() {
            bits.push(v >> i & 1 == 1);
        }
    }
    let mut out = vec![0xFF, 0xD8];
    seg(&mut out, 0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x00");
    let mut dqt = vec![0u8];
    dqt.extend_from_slice(&[1u8; 64]);
    seg(&mut out, 0xDB, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&h.to_be_bytes());
    sof.extend_from_slice(&w.to_be_bytes());
    sof.push(4);
    for c in 1..=4u8 {
        sof.extend_from_slice(&[c, 0x11, 0]);
    }
    seg(&mut out, 0xC0, &sof);
    // DC table: categories 0..=11, 4-bit codes (code = category).
    let mut dht = vec![0x00];
    let mut counts = [0u8; 16];
    counts[3] = 12;
    dht.extend_from_slice(&counts);
    dht.extend(0..12u8);
    seg(&mut out, 0xC4, &dht);
    // AC table: only end-of-block, code "0".
    let mut dht = vec![0x10];
    let mut counts = [0u8; 16];
    counts[0] = 1;
    dht.extend_from_slice(&counts);
    dht.push(0x00);
    seg(&mut out, 0xC4, &dht);
    let mut sos = vec![4];
    for c in 1..=4u8 {
        sos.extend_from_slice(&[c, 0x00]);
    }
    sos.extend_from_slice(&[0, 63, 0]);
    seg(&mut out, 0xDA, &sos);
    let mut bits = Vec::new();
    let blocks = (w as u32).div_ceil(8) * (h as u32).div_ceil(8);
    // With quantiser 1 a DC-only block decodes to DC / 8 + 128.
    let dc: Vec<i32> = cmyk.iter().map(|&v| 8 * (v as i32 - 128)).collect();
    for b in 0..blocks {
        for &d in &dc {
            let diff = if b == 0 { d } else { 0 };
            let cat = 32 - diff.unsigned_abs().leading_zeros();
            put(&mut bits, cat, 4);
            let v = if diff < 0 {
                (diff - 1) as u32
            } else {
                diff as u32
            };
            put(&mut bits, v & ((1 << cat) - 1), cat);
            put(&mut bits, 0, 1);
        }
    }
    while bits.len() % 8 != 0 {
        bits.push(true);
    }
    for byte in bits.chunks(8) {
        let v = byte.iter().fold(0u8, |a, &b| a << 1 | b as u8);
        out.push(v);
        if v == 0xFF {
            out.push(0);
        }
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// Max |L*(output pixel) - L*(expected)| over all pixels, in L* units,
/// `expected` being per-pixel L* in Q8.8.
pub fn max_l_error(out: &Path, expected_l: &[u16]) -> f32 {
    let rgb = image::open(out)
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()))
        .to_rgb8();
    assert_eq!(
        rgb.as_raw().len(),
        3 * expected_l.len(),
        "{}",
        out.display()
    );
    rgb.as_raw()
        .chunks_exact(3)
        .zip(expected_l)
        .map(|(px, &l)| (rgb8_to_lab(px[0], px[1], px[2]).0 as i32 - l as i32).unsigned_abs())
        .max()
        .unwrap() as f32
        / 256.0
}

pub fn gray_l(gray: &[u8]) -> Vec<u16> {
    gray.iter().map(|&g| gray8_to_l(g)).collect()
}

pub fn rgb_l(rgb: &[u8]) -> Vec<u16> {
    rgb.chunks_exact(3)
        .map(|p| rgb8_to_lab(p[0], p[1], p[2]).0)
        .collect()
}

/// A one-convolution 16x16 model that meets the contract: for tests about
/// files rather than colour, where the default model's 0.26 GFLOP an image
/// and its load time would make them slow under qemu-user.
pub fn tiny_model() -> Vec<u8> {
    use colorize_device::shared::contract::{INPUT_NAME, OUTPUT_NAME};
    use colorize_model::net::{Net, Node, Op, Tensor};
    let net = Net {
        arch: "tiny".into(),
        input_height: 16,
        input_width: 16,
        hints: None,
        nodes: vec![Node {
            name: "conv".into(),
            op: Op::Conv2d {
                weight: Tensor::new(vec![2, 1, 3, 3], vec![0.05; 18]),
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
    };
    colorize_model::onnx::to_onnx(&net).unwrap()
}

/// Whether permission bits stop this process (false for root, as in CI).
pub fn permissions_apply(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("perm-probe");
    fs::create_dir_all(&probe).unwrap();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o555)).unwrap();
    let blocked = fs::write(probe.join("x"), b"x").is_err();
    fs::set_permissions(&probe, fs::Permissions::from_mode(0o755)).unwrap();
    fs::remove_dir_all(&probe).unwrap();
    blocked
}

/// A 16-bit gray TIFF of `samples` (w x h) carrying the ICC profile `icc`.
pub fn gray16_tiff(path: &Path, w: u32, h: u32, samples: &[u16], icc: &[u8]) {
    let mut f = fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(&mut f).unwrap();
    let mut img = enc
        .new_image::<tiff::encoder::colortype::Gray16>(w, h)
        .unwrap();
    img.encoder()
        .write_tag(tiff::tags::Tag::Unknown(34675), icc)
        .unwrap();
    img.write_data(samples).unwrap();
}
