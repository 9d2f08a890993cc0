//! Opening the box's hardware from its config: GPIO lines through the
//! Linux character device, the camera through V4L2.

use anyhow::Result;

use super::config::BoxConfig;
use super::{CameraOpener, Hardware};
use crate::camera::{open_v4l2, CaptureRequest, FrameSource};
use crate::gpio::{CdevInput, CdevOutput, InputLine, OutputLine};

impl Hardware {
    /// Opens what `cfg` enables: the button and LED lines now, the camera
    /// lazily (on the shutter thread, at the first press).
    pub fn open(cfg: &BoxConfig) -> Result<Hardware> {
        let button: Option<Box<dyn InputLine>> = if cfg.button.enabled {
            let b = &cfg.button;
            Some(Box::new(CdevInput::open(&b.chip, b.line, b.active_low)?))
        } else {
            None
        };
        let led: Option<Box<dyn OutputLine>> = if cfg.led.enabled {
            let l = &cfg.led;
            Some(Box::new(CdevOutput::open(&l.chip, l.line, l.active_low)?))
        } else {
            None
        };
        let camera: Option<CameraOpener> = if cfg.camera.enabled {
            let req = CaptureRequest {
                width: cfg.camera.width,
                height: cfg.camera.height,
                format: cfg.camera.pixel_format()?,
                buffers: cfg.camera.buffers,
                ..Default::default()
            };
            let dev = cfg.camera.device.clone();
            // Opened lazily by the shutter thread, so a camera plugged in after
            // boot (or replugged) is picked up at the next press.
            Some(Box::new(move || -> Result<Box<dyn FrameSource + Send>> {
                open_v4l2(&dev, &req)
            }))
        } else {
            None
        };
        Ok(Hardware {
            camera,
            button,
            led,
        })
    }
}
