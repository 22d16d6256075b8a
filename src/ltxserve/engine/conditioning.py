"""What the model is shown besides the prompt: reference clips held (partly) clean, and pinned images.

A reference (the source frames around an extension, the video around a retake window, the audio an
audio-to-video request follows) is encoded at each stage's size and held per latent frame with the
plan's denoise mask: 0 keeps a latent frame exactly, 1 regenerates it, between is "video strength".
"""

import io
import math
from dataclasses import dataclass

import av
import numpy as np
import torch
from ltx_core.tools import LatentTools
from ltx_core.types import LatentState

from ltxserve.engine.planning import Size

IMAGE_CRF = 33
"""Images are passed through H.264 at this CRF first, as LTX does: the model learned from compressed
video frames and follows a compressed-looking first frame more faithfully."""


@dataclass(frozen=True)
class HeldReference:
    """A ConditioningItem (ltx-core's protocol): tokens of latent frames with strength < 1 start from
    and are blended back to the reference latent; their denoise mask is the plan's value."""

    latent: torch.Tensor
    mask: tuple[float, ...]
    """Per video latent frame, or per audio latent."""

    def apply_to(self, latent_state: LatentState, latent_tools: LatentTools) -> LatentState:
        tokens = latent_tools.patchifier.patchify(self.latent)
        per_token = self._token_mask(latent_tools, tokens.device)
        if per_token.shape[0] != tokens.shape[1]:
            raise ValueError(f"mask covers {per_token.shape[0]} tokens, the latent has {tokens.shape[1]}")
        state = latent_state.clone()
        held = per_token < 1
        state.latent[:, held] = tokens[:, held].to(state.latent.dtype)
        state.clean_latent[:, held] = tokens[:, held].to(state.clean_latent.dtype)
        state.denoise_mask[:, : per_token.shape[0]] = per_token.to(state.denoise_mask.dtype).view(1, -1, 1)
        return state

    def _token_mask(self, tools: LatentTools, device: torch.device) -> torch.Tensor:
        mask = torch.tensor(self.mask, dtype=torch.float32, device=device)
        bounds = tools.patchifier.get_patch_grid_bounds(tools.target_shape, device=device)
        if bounds.shape[1] == 1:  # audio: one token per latent, in order
            return mask
        frame_of_token = bounds[0, 0, :, 0].long()  # video: latent frame each token belongs to
        return mask[frame_of_token]


def to_model_pixels(frames: np.ndarray, size: Size, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """uint8 (F, H, W, 3) → (1, 3, F, h, w) in [-1, 1], resized to cover `size` and centre-cropped,
    one frame at a time so a long clip never exists in float32 at once."""
    out = torch.empty((1, 3, len(frames), size.height, size.width), dtype=dtype, device=device)
    for index, frame in enumerate(frames):
        pixels = torch.from_numpy(np.ascontiguousarray(frame)).to(device=device, dtype=torch.float32)
        resized = _cover_and_crop(pixels.permute(2, 0, 1).unsqueeze(0), size)
        out[0, :, index] = (resized[0] / 127.5 - 1.0).to(dtype)
    return out


def _cover_and_crop(pixels: torch.Tensor, size: Size) -> torch.Tensor:
    """(1, C, H, W) scaled (bilinear) so it covers `size`, then the centre `size` cut out."""
    _, _, height, width = pixels.shape
    if (height, width) == (size.height, size.width):
        return pixels
    scale = max(size.height / height, size.width / width)
    # ceil, so rounding can never leave the scaled image a pixel short of the target
    new_height, new_width = math.ceil(height * scale), math.ceil(width * scale)
    scaled = torch.nn.functional.interpolate(
        pixels, size=(new_height, new_width), mode="bilinear", align_corners=False, antialias=scale < 1
    )
    top, left = (new_height - size.height) // 2, (new_width - size.width) // 2
    return scaled[:, :, top : top + size.height, left : left + size.width]


def pad_to(frames: np.ndarray, size: Size) -> np.ndarray:
    """Grow (F, H, W, 3) frames to `size` by repeating the edge pixels, centred; the model then works
    on a multiple of 32 and the padding is cropped off the result again."""
    height, width = frames.shape[1:3]
    if (width, height) == (size.width, size.height):
        return frames
    top, left = (size.height - height) // 2, (size.width - width) // 2
    return np.pad(
        frames,
        ((0, 0), (top, size.height - height - top), (left, size.width - width - left), (0, 0)),
        mode="edge",
    )


def crop_to(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centre width × height of (F, H, W, 3) frames: undoes `pad_to`, and trims 1088 to 1080."""
    top, left = (frames.shape[1] - height) // 2, (frames.shape[2] - width) // 2
    return np.ascontiguousarray(frames[:, top : top + height, left : left + width])


def compress_like_video(image: np.ndarray, crf: int = IMAGE_CRF) -> np.ndarray:
    """One H.264 round trip at `crf` (in memory), so a still looks like a frame of compressed video."""
    height, width = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    image = np.ascontiguousarray(image[:height, :width])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1, options={"crf": str(crf), "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", interpolation="BICUBIC"
        )
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer, "r") as container:
        decoded = next(container.decode(video=0))
        rgb = decoded.reformat(
            format="rgb24", src_colorspace="ITU709", src_color_range="MPEG", interpolation="BICUBIC"
        )
        return np.asarray(rgb.to_ndarray(), dtype=np.uint8)
