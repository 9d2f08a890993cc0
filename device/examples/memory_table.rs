//! Which masters fit on which board with the default settings: the table
//! of docs/archive.md ("Big masters on small boards"), from the estimate
//! the memory budget charges (`colorize_io::memory::estimate`) and the
//! budget's own arithmetic (`colorize_device::memory`).
//!
//! usage: cargo run --release -p colorize-device --example memory_table
//!
//! A board's budget comes from MemAvailable; the table takes a board of N GB
//! to have N GiB less `OS_MIB` available once booted (Raspberry Pi OS Lite
//! with the box running), and the program's share as measured here after
//! loading the embedded model, with 4 workers (a 4-core board).

use colorize_device::memory::{margin, SESSION_BYTES};
use colorize_io::memory::{estimate, Header};
use colorize_io::pipeline::OutputSpec;
use image::{ColorType, ImageFormat};

/// Memory the system itself takes on a small board (assumed).
const OS_MIB: u64 = 200;
const MIB: u64 = 1 << 20;

fn main() -> anyhow::Result<()> {
    colorize_device::tune_allocator();
    let model = colorize_device::default_model()?;
    let _session = model.session()?;
    colorize_device::release_free_memory();
    let program = colorize_device::memory::resident_bytes() + 4 * SESSION_BYTES;
    let tiff = |w, h, color| Header {
        format: ImageFormat::Tiff,
        width: w,
        height: h,
        color,
        icc: false,
        progressive_sixteenths: None,
    };
    let masters = [
        ("A4 at 600 dpi, 8-bit gray", tiff(4961, 7016, ColorType::L8)),
        (
            "A4 at 600 dpi, 16-bit RGB",
            tiff(4961, 7016, ColorType::Rgb16),
        ),
        (
            "8x10 in at 1200 dpi, 16-bit gray",
            tiff(9600, 12000, ColorType::L16),
        ),
        (
            "A4 at 1200 dpi, 16-bit gray",
            tiff(9920, 14032, ColorType::L16),
        ),
        (
            "A4 at 1200 dpi, 16-bit RGB",
            tiff(9920, 14032, ColorType::Rgb16),
        ),
        (
            "A3 at 1200 dpi, 16-bit gray",
            tiff(14032, 19843, ColorType::L16),
        ),
    ];
    let boards = [1u64, 2, 4, 8];
    println!(
        "Program: {} MiB (resident after loading the embedded model, and 4 workers' sessions); a board of N GB has N GiB less {OS_MIB} MiB available.\n",
        program / MIB
    );
    print!("| master | pixels | needs |");
    for b in boards {
        print!(" {b} GB board |");
    }
    println!();
    print!("|---|---|---|");
    for _ in boards {
        print!("---|");
    }
    println!();
    for (name, h) in masters {
        let need = estimate(&h, OutputSpec::PNG);
        print!(
            "| {name} | {}x{} ({:.0} Mpixel) | {} MiB |",
            h.width,
            h.height,
            h.pixels() as f64 / 1e6,
            need.div_ceil(MIB)
        );
        for b in boards {
            // As the budget does with MemAvailable: it is measured with the
            // program loaded, so only the margin comes off.
            let available = (b << 30) - OS_MIB * MIB - program;
            let images = available - margin(available);
            let at_once = (images / need).min(4);
            if at_once == 0 {
                print!(" refused |");
            } else {
                print!(" {at_once} at once |");
            }
        }
        println!();
    }
    Ok(())
}
