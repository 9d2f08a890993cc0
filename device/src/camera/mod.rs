//! Frame sources: where camera pixels come from, as L* planes.
//!
//! [`FrameSource`] hides the device: [`v4l2::V4l2Source`] reads a real
//! V4L2 camera (MMAP streaming), [`FakeSource`] plays synthetic frames for
//! tests. Both fill a caller-owned L* plane, so the capture loop reuses one
//! buffer per frame and allocates nothing once running.

pub mod capture;
pub mod convert;
#[cfg(target_os = "linux")]
#[cfg(feature = "camera")]
pub mod v4l2;

pub use convert::{ConvertError, PixelFormat};

use std::fmt;
use std::io;
use std::time::Duration;

/// What a source delivered for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    pub width: usize,
    pub height: usize,
    /// The driver's frame counter; gaps mean dropped frames.
    pub sequence: u32,
}

/// Why a capture failed. [`CaptureError::is_transient`] tells a caller whether
/// the next frame is worth waiting for.
#[derive(Debug)]
pub enum CaptureError {
    /// The driver flagged the buffer as corrupt (V4L2_BUF_FLAG_ERROR); the
    /// stream itself is fine.
    CorruptFrame { sequence: u32 },
    /// The frame's bytes did not convert (truncated, bad JPEG, ...).
    Convert(ConvertError),
    /// No frame arrived in time.
    Timeout,
    /// The device went away (unplugged, driver unbound).
    Disconnected(io::Error),
    /// Any other device error.
    Io(io::Error),
    /// The source has no more frames (fakes, or a stream that ended).
    EndOfStream,
}

impl CaptureError {
    /// Errors after which the same open stream can deliver the next frame.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CaptureError::CorruptFrame { .. } | CaptureError::Convert(_) | CaptureError::Timeout
        )
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::CorruptFrame { sequence } => {
                write!(f, "frame {sequence} was flagged corrupt by the driver")
            }
            CaptureError::Convert(e) => write!(f, "frame does not convert: {e}"),
            CaptureError::Timeout => f.write_str("no frame arrived before the timeout"),
            CaptureError::Disconnected(e) => write!(f, "camera disconnected: {e}"),
            CaptureError::Io(e) => write!(f, "camera I/O error: {e}"),
            CaptureError::EndOfStream => f.write_str("the source has no more frames"),
        }
    }
}

impl std::error::Error for CaptureError {}

impl From<ConvertError> for CaptureError {
    fn from(e: ConvertError) -> Self {
        CaptureError::Convert(e)
    }
}

impl From<io::Error> for CaptureError {
    fn from(e: io::Error) -> Self {
        // ENODEV / ENXIO: the device node is gone. EPIPE is what some USB
        // cameras return once unplugged mid-stream.
        match e.raw_os_error() {
            Some(19) | Some(6) | Some(32) => CaptureError::Disconnected(e),
            _ if e.kind() == io::ErrorKind::TimedOut => CaptureError::Timeout,
            _ => CaptureError::Io(e),
        }
    }
}

/// A camera, or anything that yields frames of a fixed negotiated size.
pub trait FrameSource {
    /// The negotiated `(width, height)`; may differ from what was asked for.
    fn size(&self) -> (usize, usize);

    /// Captures the next frame into `l` (`width * height` L* values, Q8.8).
    fn capture_l(&mut self, l: &mut [u16]) -> Result<FrameInfo, CaptureError>;

    /// Sets a device control by name (fault injection in tests, exposure on
    /// real cameras). Sources without controls refuse.
    fn set_control(&mut self, name: &str, _value: i64) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this source has no control {name:?}"),
        ))
    }
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn size(&self) -> (usize, usize) {
        (**self).size()
    }
    fn capture_l(&mut self, l: &mut [u16]) -> Result<FrameInfo, CaptureError> {
        (**self).capture_l(l)
    }
    fn set_control(&mut self, name: &str, value: i64) -> io::Result<()> {
        (**self).set_control(name, value)
    }
}

/// A scripted fake camera. Each frame is a raw buffer in one of the camera
/// formats and goes through the same conversion code as a real driver's,
/// so tests exercise stride and `bytesused` handling too.
pub struct FakeSource {
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    frames: Vec<FakeFrame>,
    next: usize,
    repeat: bool,
    scratch: Vec<u8>,
    sequence: u32,
}

/// One scripted frame (or failure) of a [`FakeSource`].
pub enum FakeFrame {
    /// Raw bytes and the `bytesused` the "driver" reports.
    Data { bytes: Vec<u8>, bytesused: usize },
    /// A buffer the driver flagged as corrupt.
    Corrupt,
    /// The device vanishes.
    Disconnect,
}

impl FakeSource {
    /// A source that plays `frames` once (or forever with [`Self::repeating`]).
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        stride: usize,
        frames: Vec<FakeFrame>,
    ) -> Self {
        FakeSource {
            format,
            width,
            height,
            stride,
            frames,
            next: 0,
            repeat: false,
            scratch: Vec::new(),
            sequence: 0,
        }
    }

    /// A GREY source whose every frame is a horizontal gradient with `pad`
    /// bytes of row padding (filled with 0xFF so leaks would show).
    pub fn gradient(width: usize, height: usize, pad: usize) -> Self {
        let stride = width + pad;
        let mut bytes = vec![0xFF; stride * height];
        for y in 0..height {
            for x in 0..width {
                bytes[y * stride + x] = ((x * 255) / width.max(1)) as u8;
            }
        }
        let len = bytes.len();
        FakeSource::new(
            PixelFormat::Grey,
            width,
            height,
            stride,
            vec![FakeFrame::Data {
                bytes,
                bytesused: len,
            }],
        )
        .repeating()
    }

    /// Loops over the script forever.
    pub fn repeating(mut self) -> Self {
        self.repeat = true;
        self
    }
}

impl FrameSource for FakeSource {
    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn capture_l(&mut self, l: &mut [u16]) -> Result<FrameInfo, CaptureError> {
        if self.next >= self.frames.len() {
            if !self.repeat || self.frames.is_empty() {
                return Err(CaptureError::EndOfStream);
            }
            self.next = 0;
        }
        let i = self.next;
        self.next += 1;
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        match &self.frames[i] {
            FakeFrame::Corrupt => Err(CaptureError::CorruptFrame { sequence }),
            FakeFrame::Disconnect => {
                Err(CaptureError::Disconnected(io::Error::from_raw_os_error(19)))
            }
            FakeFrame::Data { bytes, bytesused } => {
                convert::frame_to_l(
                    self.format,
                    bytes,
                    self.width,
                    self.height,
                    self.stride,
                    *bytesused,
                    l,
                    &mut self.scratch,
                )?;
                Ok(FrameInfo {
                    width: self.width,
                    height: self.height,
                    sequence,
                })
            }
        }
    }
}

/// What to ask the driver for.
#[derive(Clone, Debug)]
pub struct CaptureRequest {
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    /// MMAP buffers in flight; 3-4 keeps the driver from dropping frames
    /// while one is being converted.
    pub buffers: u32,
    /// How long to wait for one frame before [`CaptureError::Timeout`].
    pub timeout: Duration,
}

impl Default for CaptureRequest {
    fn default() -> Self {
        CaptureRequest {
            width: 640,
            height: 480,
            format: PixelFormat::Yuyv,
            buffers: 4,
            timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the V4L2 capture device at `path`; in a build without the
/// `camera` feature (it needs libclang to build), an error that says so.
pub fn open_v4l2(
    path: &std::path::Path,
    req: &CaptureRequest,
) -> anyhow::Result<Box<dyn FrameSource + Send>> {
    #[cfg(feature = "camera")]
    {
        Ok(Box::new(v4l2::V4l2Source::open(path, req)?))
    }
    #[cfg(not(feature = "camera"))]
    {
        let _ = req;
        anyhow::bail!(
            "{}: this colorize was built without camera support; rebuild it with `--features camera` (needs libclang-dev; scripts/dist.sh does)",
            path.display()
        )
    }
}
