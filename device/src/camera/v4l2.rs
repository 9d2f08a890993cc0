//! A V4L2 camera through the `v4l` crate, MMAP streaming.
//!
//! The driver may not give the size asked for (vivid turns 320x240 into
//! 320x180, webcams snap to their sensor modes): the negotiated format is
//! what counts and what [`FrameSource::size`] reports. Its `bytesperline`
//! (stride) and each buffer's `bytesused` are honoured by the conversion.

use std::io;
use std::path::{Path, PathBuf};

use v4l::buffer::{Flags, Type};
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use super::convert::{frame_to_l, PixelFormat};
use super::{CaptureError, CaptureRequest, FrameInfo, FrameSource};

/// An open, streaming V4L2 capture device.
pub struct V4l2Source {
    path: PathBuf,
    // Field order matters: the stream unmaps and stops before the device
    // handle it shares is closed.
    stream: Stream<'static>,
    dev: Device,
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    scratch: Vec<u8>,
}

fn ctx(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
}

impl V4l2Source {
    /// Opens `path`, negotiates the format and maps the buffers. Fails with a
    /// message listing the device's formats when the one asked for is not
    /// offered.
    pub fn open(path: impl AsRef<Path>, req: &CaptureRequest) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let dev = Device::with_path(&path).map_err(|e| ctx(&path, "cannot open", e))?;
        let want = Format::new(req.width, req.height, FourCC::new(&req.format.fourcc()));
        let got = dev
            .set_format(&want)
            .map_err(|e| ctx(&path, "VIDIOC_S_FMT failed", e))?;
        if got.fourcc.repr != req.format.fourcc() {
            let offered: Vec<String> = dev
                .enum_formats()
                .map(|v| v.iter().map(|d| d.fourcc.to_string()).collect())
                .unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{}: does not capture {} (driver chose {}; offered: {})",
                    path.display(),
                    req.format,
                    got.fourcc,
                    offered.join(", ")
                ),
            ));
        }
        let (width, height) = (got.width as usize, got.height as usize);
        if width == 0 || height == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: driver negotiated an empty frame {width}x{height}",
                    path.display()
                ),
            ));
        }
        let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, req.buffers.max(2))
            .map_err(|e| ctx(&path, "cannot map capture buffers", e))?;
        stream.set_timeout(req.timeout);
        let scratch = if req.format == PixelFormat::Mjpeg {
            vec![0; 3 * width * height]
        } else {
            Vec::new()
        };
        Ok(V4l2Source {
            path,
            stream,
            dev,
            format: req.format,
            width,
            height,
            stride: got.stride as usize,
            scratch,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Bytes per line the driver negotiated.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Sets a control by its driver-given name (e.g. vivid's "Disconnect" or
    /// "Inject V4L2_BUF_FLAG_ERROR"); buttons ignore `value`. Used by the
    /// emulated-board test to trigger faults from inside the capture loop.
    ///
    /// Raw VIDIOC_QUERYCTRL / VIDIOC_S_CTRL rather than the crate's
    /// `query_controls`, which panics on control types it does not know
    /// (vivid exposes several).
    pub fn set_control_by_name(&self, name: &str, value: i64) -> io::Result<()> {
        use std::os::raw::c_void;
        use v4l::v4l2::vidioc::{VIDIOC_QUERYCTRL, VIDIOC_S_CTRL};
        use v4l::v4l_sys::{v4l2_control, v4l2_queryctrl, V4L2_CTRL_FLAG_NEXT_CTRL};

        let fd = self.dev.handle().fd();
        let mut names = Vec::new();
        // SAFETY: plain-data C structs, zero is a valid bit pattern for both,
        // and the kernel writes within their size.
        let mut q: v4l2_queryctrl = unsafe { std::mem::zeroed() };
        loop {
            q.id |= V4L2_CTRL_FLAG_NEXT_CTRL;
            if unsafe { v4l::v4l2::ioctl(fd, VIDIOC_QUERYCTRL, &mut q as *mut _ as *mut c_void) }
                .is_err()
            {
                break; // EINVAL: past the last control
            }
            let len = q.name.iter().position(|&c| c == 0).unwrap_or(q.name.len());
            let this = String::from_utf8_lossy(&q.name[..len]).into_owned();
            if this.eq_ignore_ascii_case(name) {
                let mut c = v4l2_control {
                    id: q.id,
                    value: value.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                };
                return unsafe {
                    v4l::v4l2::ioctl(fd, VIDIOC_S_CTRL, &mut c as *mut _ as *mut c_void)
                }
                .map(|_| ())
                .map_err(|e| ctx(&self.path, &format!("setting control {name:?}"), e));
            }
            names.push(this);
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: no control named {name:?} (have: {})",
                self.path.display(),
                names.join(", ")
            ),
        ))
    }
}

impl FrameSource for V4l2Source {
    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn capture_l(&mut self, l: &mut [u16]) -> Result<FrameInfo, CaptureError> {
        let (buf, meta) = CaptureStream::next(&mut self.stream)?;
        if meta.flags.contains(Flags::ERROR) {
            return Err(CaptureError::CorruptFrame {
                sequence: meta.sequence,
            });
        }
        frame_to_l(
            self.format,
            buf,
            self.width,
            self.height,
            self.stride,
            meta.bytesused as usize,
            l,
            &mut self.scratch,
        )?;
        Ok(FrameInfo {
            width: self.width,
            height: self.height,
            sequence: meta.sequence,
        })
    }

    fn set_control(&mut self, name: &str, value: i64) -> io::Result<()> {
        self.set_control_by_name(name, value)
    }
}
